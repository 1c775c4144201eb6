"""The bar store's files: the chunk format (a standard .npy of one record of six columns), atomic writes, and
reading a chunk straight into columns with its header and size checked against the index (bar_store.py)."""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.core.files import fsync_dir
from app.engine.data.bars import COLUMNS, Bars

ROW = np.dtype([("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
                ("volume", "<f8")])
HOUR_MS = 3_600_000


class BarStoreError(RuntimeError):
    """The store cannot do what was asked; the message says what is wrong, where, and what to do."""



def period_keys(ts: np.ndarray, timeframe_ms: int) -> np.ndarray:
    unit = "M" if timeframe_ms <= HOUR_MS else "Y"
    return ts.astype("datetime64[ms]").astype(f"datetime64[{unit}]")


def period_name(key: np.datetime64) -> str:
    return str(key)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    for attempt in range(50):  # Windows refuses to replace a file a reader has open for a moment
        try:
            os.replace(tmp, path)
            break
        except PermissionError:
            if attempt == 49:
                raise
            time.sleep(0.01)
    fsync_dir(path.parent)


def chunk_dtype(k: int) -> np.dtype:
    """A chunk file is a standard .npy holding one record of six column fields of ``k`` values each: column
    after column on disk, so each column is read in one piece (``np.load(f)["close"]`` works too)."""
    return np.dtype([(c, ROW[c], (k,)) for c in COLUMNS])


def npy_bytes(rows: np.ndarray) -> bytes:
    import io

    record = np.zeros((), dtype=chunk_dtype(len(rows)))
    for c in COLUMNS:
        record[c] = rows[c]
    buf = io.BytesIO()
    np.lib.format.write_array(buf, record, allow_pickle=False)
    return buf.getvalue()


def repair_hint(period: str) -> str:
    return (f"Delete that period of the series (BarStore.delete over {period}, or `kestrel data delete`) and "
            f"download it again; the other periods are unaffected.")


def dedupe_last(rows: np.ndarray) -> np.ndarray:
    """Rows sorted by ts, keeping the last given row of each ts (later rows replace earlier ones)."""
    if len(rows) < 2:
        return rows
    ts = rows["ts"]
    if np.all(ts[1:] > ts[:-1]):
        return rows
    order = np.argsort(ts, kind="stable")
    rows = rows[order]
    ts = rows["ts"]
    keep = np.r_[ts[1:] != ts[:-1], True]
    return rows[keep]


def open_chunk(path: Path, chunk: dict, name: str):
    """The chunk file open at its first byte of data, once its header and size are as the index says."""
    fh = open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    try:
        try:
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, _, dtype = read_header(fh)
        except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for a damaged header
            raise BarStoreError(f"the bar chunk {path} is damaged ({type(exc).__name__}: {exc}). "
                                f"{repair_hint(name)}") from None
        start = fh.tell()
        size = os.fstat(fh.fileno()).st_size
        k = chunk["bars"]
        if shape != () or dtype != chunk_dtype(k):
            problem = f"it holds {dtype} of shape {shape}, not {k} bars"
        elif size != start + ROW.itemsize * k:
            problem = f"it is {size} bytes long, {start + ROW.itemsize * k} expected for {k} bars"
        else:
            return fh, start
        raise BarStoreError(f"the bar chunk {path} is damaged: {problem}. {repair_hint(name)}")
    except BaseException:
        fh.close()
        raise


def read_chunk_ts(fh, path: Path, chunk: dict, name: str) -> np.ndarray:
    ts = np.empty(chunk["bars"], dtype=np.int64)
    if fh.readinto(memoryview(ts).cast("B")) != ts.nbytes:
        raise BarStoreError(f"the bar chunk {path} is damaged: it ends early. {repair_hint(name)}")
    if ts[0] != chunk["first"] or ts[-1] != chunk["last"]:
        raise BarStoreError(f"the bar chunk {path} is damaged: its first/last bar times differ from the "
                            f"index. {repair_hint(name)}")
    if len(ts) > 1 and not np.all(ts[1:] > ts[:-1]):
        raise BarStoreError(f"the bar chunk {path} is damaged: its bar times do not increase. {repair_hint(name)}")
    return ts


def load_chunk(path: Path, chunk: dict, name: str, tf: int) -> np.ndarray:
    """The whole chunk as rows (``ROW``), for a merge or a delete."""
    fh, _ = open_chunk(path, chunk, name)
    with fh:
        ts = read_chunk_ts(fh, path, chunk, name)
        rest = fh.read()
    k = len(ts)
    if len(rest) != 5 * 8 * k:
        raise BarStoreError(f"the bar chunk {path} is damaged: it ends early. {repair_hint(name)}")
    rows = np.empty(k, dtype=ROW)
    rows["ts"] = ts
    for j, column in enumerate(COLUMNS[1:]):
        rows[column] = np.frombuffer(rest, dtype="<f8", count=k, offset=8 * k * j)
    return rows


def rows_from(bars: Bars | Mapping[str, Any]) -> np.ndarray:
    cols = bars.as_dict() if isinstance(bars, Bars) else bars
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        raise BarStoreError(f"bars to write need the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    ts = np.asarray(cols["ts"])
    if ts.ndim != 1 or (ts.dtype.kind not in "iu" and len(ts)):
        raise BarStoreError(f"bar times must be integer ms (int64), got {ts.dtype} of shape {ts.shape}")
    rows = np.empty(len(ts), dtype=ROW)
    rows["ts"] = ts
    for c in COLUMNS[1:]:
        values = np.asarray(cols[c], dtype=np.float64)
        if values.shape != ts.shape:
            raise BarStoreError(f"column {c!r} has {len(values)} rows, ts has {len(ts)}")
        rows[c] = values
    return rows


def check_timeframe(timeframe_ms: int) -> int:
    tf = int(timeframe_ms)
    if tf <= 0:
        raise BarStoreError(f"timeframe_ms must be a positive number of ms, got {timeframe_ms!r}")
    return tf


def validate_rows(rows: np.ndarray, tf: int, offset: int, where: str) -> None:
    if not len(rows):
        return
    ts, o, h, l, c, v = (rows[name] for name in COLUMNS)
    prices = np.column_stack([o, h, l, c, v])
    checks = (
        (~np.isfinite(prices).all(axis=1), "a price or the volume is not a finite number"),
        (h < l, "high is below low"),
        ((o > h) | (o < l) | (c > h) | (c < l), "open or close is outside [low, high]"),
        (v < 0, "volume is negative"),
        ((ts - offset) % tf != 0, f"ts is not on the {tf} ms grid of the series (offset {offset} ms)"),
    )
    for bad, what in checks:
        hit = np.flatnonzero(bad)
        if hit.size:
            i = int(hit[0])
            raise BarStoreError(
                f"{where}: row {i} (ts {int(ts[i])}: open {o[i]}, high {h[i]}, low {l[i]}, close {c[i]}, "
                f"volume {v[i]}) is refused: {what}; {hit.size} such row(s). Nothing was written.")
