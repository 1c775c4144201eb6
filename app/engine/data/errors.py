"""``DataError``, the one error a data file's problem raises, and the wording its messages share.

A message names the file, the data row (1 = the first row under the header) and the column, and says what to
do; ``cell`` and ``rows`` keep the wording of the value and of the count the same everywhere.
"""
from __future__ import annotations


class DataError(ValueError):
    """The data file cannot be used; the message says what is wrong and where."""


def cell(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def rows(n: int) -> str:
    return "the only such row" if n == 1 else f"{n} such rows in all"
