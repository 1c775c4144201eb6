"""Orders beyond market and limit: trigger books, the emulator, contingent lists, modify, position actions."""
