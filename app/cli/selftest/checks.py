"""The self-test's checks of the subsystems behind the window: each returns a one-line detail or raises
``StepFailed``. They are what a frozen build gets wrong (a library or data file left out of the bundle, a
plugin folder not found, a worker process that cannot start, a cache that cannot be written), so each one
does the real thing on a small scale: compile kernels, run the bundled model, load and run plugins, start a
spawn worker, import the venue libraries. No network, nothing written outside the profile and the caches.
"""
from __future__ import annotations

import sys
import tempfile
from concurrent.futures import Executor, Future
from pathlib import Path
from types import SimpleNamespace


class StepFailed(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------- numba
def numba_cache_counts() -> tuple[int, int]:
    """(cache hits, cache misses) so far over every indicator kernel loaded in this process."""
    if "numba" not in sys.modules:
        return 0, 0
    from numba.core.registry import CPUDispatcher

    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith("app.engine.indicators") or name == "app.engine.backtest.sweep"):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher):
                stats = value.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return hits, misses


def describe_cache(before: tuple[int, int]) -> str:
    from app.engine.indicators._cache_dir import cache_dir

    hits, misses = (a - b for a, b in zip(numba_cache_counts(), before))
    if hits and not misses:
        verdict = "numba cache hit"
    elif misses and not hits:
        verdict = "numba cache miss: compiled and cached"
    else:
        verdict = "numba cache partly hit"
    return f"{verdict} ({hits} loaded, {misses} compiled; {cache_dir()})"


def sample_bars(n: int, seed: int = 3):
    from app.engine.ml.synthetic import generated_bars

    return generated_bars(n, seed=seed)


def indicators() -> str:
    """Vectorised and streaming forms of two kernels agree (compiled by numba, or loaded from its cache). SMA
    and RSI are also features of the bundled model: on an empty cache they are compiled once, here."""
    import math

    import numba

    from app.engine import indicators as ta

    before = numba_cache_counts()
    close = sample_bars(300).close
    streams = {"sma": ta.stream("sma", timeperiod=20), "rsi": ta.stream("rsi", timeperiod=14)}
    vectorised = {"sma": ta.sma(close, 20)[-1], "rsi": ta.rsi(close, 14)[-1]}
    last = {}
    for x in close:
        for name, stream in streams.items():
            last[name] = stream.update(float(x))
    for name, value in vectorised.items():
        got = last[name][0] if isinstance(last[name], tuple) else last[name]
        if not math.isfinite(value) or got != value:
            raise StepFailed(f"{name}: streaming {got!r} != vectorised {value!r}")
    return f"sma/rsi streaming == vectorised; numba {numba.__version__}, {describe_cache(before)}"


# ------------------------------------------------------------------------------------------------------ ML
def ml_inference(profile: Path) -> str:
    """The bundled default model: sha256-verified, scored with onnxruntime on features from the kernels."""
    import math

    import onnxruntime

    from app.engine.ml.serve import BUNDLED_DIR, ModelError, ModelSource

    before = numba_cache_counts()
    try:
        handle = ModelSource(db_path=profile / "kestrel.db").handle("default")
    except ModelError as exc:
        raise StepFailed(f"the bundled model ({BUNDLED_DIR}) cannot be used: {exc}") from None
    data = sample_bars(200)
    score = math.nan
    for i in range(len(data)):
        score = handle.update(SimpleNamespace(ts=int(data.ts[i]), open=float(data.open[i]), high=float(data.high[i]),
                                              low=float(data.low[i]), close=float(data.close[i]),
                                              volume=float(data.volume[i])))
    if not (0.0 <= score <= 1.0):
        raise StepFailed(f"the bundled model scored {score!r}, expected a probability")
    return (f"{handle.name}: p(up) {score:.3f}, {handle.inference.percentile_us(50):.0f} µs/row, onnxruntime "
            f"{onnxruntime.__version__}; features: {describe_cache(before)}")


# ------------------------------------------------------------------------------------------------- plugins
def plugins(profile: Path) -> str:
    """Every bundled plugin loads; the bundled sma_cross runs a backtest and trades."""
    from app.engine.backtest.engine import run_backtest
    from app.engine.strategy import plugins as loader

    found = loader.discover(profile)
    bundled = [i for i in found if i.source == "bundled"]
    if not bundled:
        raise StepFailed(f"no bundled plugins found in {loader.BUNDLED_DIR}")
    broken = [f"{i.name}: {i.error}" for i in bundled if not i.ok]
    if broken:
        raise StepFailed("bundled plugins do not load: " + "; ".join(broken))
    sma = next((i for i in bundled if i.name == "sma_cross"), None)
    if sma is None:
        raise StepFailed("the bundled sma_cross plugin is missing")
    result = run_backtest(sma.cls, {"fast": 5, "slow": 20}, sample_bars(400))
    if not result.fills:
        raise StepFailed("sma_cross ran a backtest but never traded")
    return (f"{len(bundled)} bundled ({', '.join(i.name for i in bundled)}); sma_cross backtest: "
            f"{len(result.fills)} fills")


PROBE_FILE = "kestrel_selftest_probe.py"
PROBE_SOURCE = '''"""Written and removed again by `kestrel --self-test`: proves that plugins in this folder load."""
from app.engine.strategy.base import Strategy
from app.engine.strategy.params import Param


class SelfTestProbe(Strategy):
    name = "kestrel_selftest_probe"
    api_version = "{api}"
    description = "self-test probe"
    qty = Param(1.0, lo=0.0, doc="quantity bought on the first bar")

    def on_bar(self, bar):
        if self.position() == 0.0:
            self.buy(self.p.qty)
'''


def user_plugin(profile: Path) -> str:
    """A plugin file in ``<profile>/plugins`` is found as a user plugin, loads and runs (then removed)."""
    from app.engine.backtest.engine import run_backtest
    from app.engine.strategy import plugins as loader
    from app.engine.strategy.params import API_VERSION

    folder = profile / "plugins"
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / PROBE_FILE
    probe.write_text(PROBE_SOURCE.format(api=API_VERSION))
    try:
        found = [i for i in loader.discover(profile, entry_points=False) if i.origin == str(probe)]
        if not found or found[0].source != "user" or not found[0].ok:
            error = found[0].error if found else "not discovered"
            raise StepFailed(f"a plugin in {folder} did not load: {error}")
        result = run_backtest(found[0].cls, {}, sample_bars(30))
        if not result.fills:
            raise StepFailed("the user plugin loaded but its order never filled")
    finally:
        probe.unlink(missing_ok=True)
        if created:
            try:
                folder.rmdir()
            except OSError:
                pass
    return f"{folder} loaded and ran (probe removed)"


# ------------------------------------------------------------------------------------------ worker process
def in_worker(ref, params: dict, csv_path: str) -> dict:
    """Runs in a ``spawn`` worker process: a bundled plugin's backtest through the same job function the
    Backtest dialog and sweeps use, then the venue and training libraries (seconds of imports, kept off the
    GUI process and running on the other core)."""
    from app.engine.backtest.options import BacktestConfig
    from app.engine.backtest.workers import backtest_job

    result = backtest_job(ref, params, csv_path, BacktestConfig())
    try:
        libraries = venue_libraries()
    except Exception as exc:  # noqa: BLE001 - reported by the "venue libraries" step
        libraries = StepFailed(f"{type(exc).__name__}: {exc}")
    return {"fills": len(result.fills), "libraries": libraries}


def write_bars(path: Path, n: int, seed: int = 3) -> Path:
    """A generated bar file (1-minute bars, timestamps in ms) in the format the Backtest dialog and the
    Models dock read: an installed app has no test data, so the self-test writes its own."""
    data = sample_bars(n, seed)
    shift = int(data.ts[0]) % 60_000  # on the minute, as a venue's bars are (the bar store insists)
    with path.open("w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for i in range(len(data)):
            row = (data.open[i], data.high[i], data.low[i], data.close[i], data.volume[i])
            fh.write(f"{int(data.ts[i]) - shift}," + ",".join(repr(float(x)) for x in row) + "\n")
    return path


def start_worker(csv: Path, pool: Executor) -> Future:
    """Submit :func:`in_worker` on the bar file ``csv`` to ``pool``, a ``spawn`` process pool (a frozen build
    must be able to start itself as a worker); it runs while the GUI steps drive the window."""
    from app.engine.backtest.sweep import PluginRef
    from app.engine.strategy import plugins as loader

    ref = PluginRef("sma_cross", str(loader.BUNDLED_DIR / "sma_cross.py"), "bundled")
    return pool.submit(in_worker, ref, {"fast": 5, "slow": 20}, str(csv))


class Worker:
    """The worker's outcome, waited for once by the first step that needs it. ``pool`` is the Backtest
    dialog's, so the process this starts is the one the dialog's backtest runs in later (started once, as
    in a trader's session); whoever owns the pool stops it."""

    def __init__(self, csv: Path, pool: Executor) -> None:
        self.outcome: dict | StepFailed | None = None
        try:
            self.future = start_worker(csv, pool)
        except Exception as exc:  # noqa: BLE001 - reported by the "worker process" step
            self.outcome = StepFailed(f"could not start a worker process: {type(exc).__name__}: {exc}")

    def result(self, timeout_s: float = 90.0) -> dict:
        if self.outcome is None:
            try:
                self.outcome = self.future.result(timeout=timeout_s)
            except Exception as exc:  # noqa: BLE001 - a worker that cannot start, a timeout, an error inside
                self.outcome = StepFailed(f"the worker process failed: {type(exc).__name__}: {exc}")
        if isinstance(self.outcome, StepFailed):
            raise self.outcome
        return self.outcome

    def process_step(self) -> str:
        fills = self.result()["fills"]
        if not fills:
            raise StepFailed("the worker's backtest never traded")
        return f"spawn worker ran sma_cross: {fills} fills"

    def libraries_step(self) -> str:
        libraries = self.result()["libraries"]
        if isinstance(libraries, StepFailed):
            raise libraries
        return f"{libraries} (imported in the worker)"


# ------------------------------------------------------------------------------------------------- venues
def venue_libraries() -> str:
    """ccxt (REST and pro), akshare with its exchange calendar and its JS engine, scikit-learn and skl2onnx
    are importable and work offline: what `--venue`, A-shares and model training need."""
    import ccxt
    import ccxt.pro

    exchange = ccxt.binance()  # constructing one needs no network
    if not exchange.has.get("fetchOHLCV"):
        raise StepFailed("ccxt's binance does not describe itself")
    from app.engine.core.ashare_rules import trading_days
    from app.engine.venues.akshare import data as akshare_data

    akshare_data.warm_imports()
    days = trading_days()
    from py_mini_racer import MiniRacer

    if MiniRacer().eval("6 * 7") != 42:
        raise StepFailed("akshare's JS engine (py_mini_racer) returned a wrong answer")
    import akshare
    import sklearn
    import sklearn.ensemble  # noqa: F401 - the training models
    import skl2onnx

    return (f"ccxt {ccxt.__version__} ({len(ccxt.exchanges)} exchanges, pro ok), akshare {akshare.__version__} "
            f"({len(days)} calendar days, JS engine ok), scikit-learn {sklearn.__version__}, skl2onnx "
            f"{skl2onnx.__version__}")


def secrets(profile: Path) -> str:
    """Where API keys would go: the OS keyring, or (none on a headless Linux box) the encrypted-file fallback,
    which is exercised in a scratch folder. Nothing is written to the trader's keyring or profile."""
    from app.engine.venues.credentials import CredentialStore, Credentials

    store = CredentialStore(profile)
    where = store.describe()
    if store.uses_keyring:
        return f"API keys: {where}"
    with tempfile.TemporaryDirectory(prefix="kestrel-selftest-keys-") as scratch:
        probe = CredentialStore(Path(scratch), passphrase="self-test", use_keyring=False)
        probe.set("selftest", Credentials("key", "secret"))
        got = CredentialStore(Path(scratch), passphrase="self-test", use_keyring=False).get("selftest")
        if got is None or got.secret != "secret":
            raise StepFailed("the encrypted credentials file did not read back what was written")
    return f"API keys: no OS keyring here, so {where}; encrypted file round trip ok"


# --------------------------------------------------------------------------------------------------- audit
def audit(kernel, profile: Path) -> str:
    """The hash-chained audit trail holds the self-test's orders and fills and verifies end to end."""
    from app.engine.audit.verify import open_readonly, verify

    kernel.audit_recorder.flush()
    conn = open_readonly(profile / "kestrel.db")
    try:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM audit")}
        result = verify(conn)
    finally:
        conn.close()
    missing = {"SubmitOrder", "OrderFilled", "TradingStateChanged"} - kinds
    if missing:
        raise StepFailed(f"the audit trail lacks {sorted(missing)}")
    if not result.ok:
        raise StepFailed(f"the audit trail does not verify: {result.problem}")
    return f"{result.records} records, hash chain verified"
