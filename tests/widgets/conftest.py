"""Widget tests use the shared ``window_factory`` (tests/conftest.py)."""
