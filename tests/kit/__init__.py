"""The tests' kit: every helper shared by more than one test module, imported one way,
``from tests.kit.<module> import name`` (the repository root is on ``sys.path``: tests/conftest.py).

wait         wait for a condition with a deadline (sync and async), never a bare sleep
kernel       drive a real kernel on its simulated clock; a kernel with loose risk limits, orders through the bus
ui           drive the real window: pump frames, read tables, type and choose as a person does
data         the recorded market data the repository holds (tests/data): its folder and files, found one way
series       hand-made and generated series (toy bars and trades, bar CSVs for the CLI and dialogs)
terminal     a terminal in another process: its heartbeat, counted and aged
venues       the fake Binance around a real kernel and venue manager; no sockets beyond 127.0.0.1
webhook      a real HTTP receiver on 127.0.0.1 for notification channels: answers, refuses, hangs; a closed port
keyrings     an in-memory keyring and keyring's "none available" one (fixtures, made global by tests/conftest.py)
indicators   the indicator tests' inputs (recorded candles as arrays, adversarial synthetic series)
indicator_cases  parameter cases per indicator and the TA-Lib reference call of each
ml           the ML tests' small helpers
journeys     what the journeys showed in this session (dialogs, modules)

Fixtures stay in the conftest.py beside the tests that use them; the fakes (tests/venues/fake_binance.py,
fake_akshare.py) and the backtest oracles (tests/backtest/oracles.py) stay where the benchmarks import them.
"""
