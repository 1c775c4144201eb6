"""One write transaction on a connection in autocommit mode (``isolation_level=None``, as ``Store.conn``)."""
from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator


@contextlib.contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE (it waits for another process's writer, up to the connection's busy timeout) ... COMMIT, or
    ROLLBACK on any exception; a process killed inside leaves nothing of it (SQLite rolls back)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
