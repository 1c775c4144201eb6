"""Paper trading on a live market: the live book and trades decide a paper order's fills (queue.py)."""
