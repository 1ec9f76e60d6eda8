"""`python -m orch_cli`: the `orch` command.

With `ORCH_PROFILE_DIR` set, the process runs under cProfile and writes `<dir>/<subcommand>-<pid>.prof` when it
exits (a service exits cleanly on SIGTERM), for finding where a process spends its CPU in a benchmark run. It counts
the main thread's CPU time, not wall time, so a loaded machine does not charge waiting to the code that waited.

With `ORCH_TRACEMALLOC_DIR` set, the process traces its allocations, and each SIGUSR2 writes a snapshot
`<dir>/<subcommand>-<pid>-<n>.tracemalloc`, for finding what grows between two moments of a long run.
"""

import os
import sys

from orch_cli.main import app

_profile_dir = os.environ.get("ORCH_PROFILE_DIR")
_tracemalloc_dir = os.environ.get("ORCH_TRACEMALLOC_DIR")
_name = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "orch")

if _tracemalloc_dir:
    import itertools
    import signal
    import tracemalloc
    from pathlib import Path

    _snapshots = itertools.count(1)

    def _dump_snapshot(*_: object) -> None:
        folder = Path(str(_tracemalloc_dir))
        folder.mkdir(parents=True, exist_ok=True)
        tracemalloc.take_snapshot().dump(str(folder / f"{_name}-{os.getpid()}-{next(_snapshots)}.tracemalloc"))

    tracemalloc.start(12)
    signal.signal(signal.SIGUSR2, _dump_snapshot)

if _profile_dir:
    import cProfile
    import signal
    import time
    from pathlib import Path

    # uvicorn re-raises the SIGTERM it handled once it has shut down: exit through Python so the profile is written
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    _profiler = cProfile.Profile(time.thread_time)
    try:
        _profiler.runcall(app, standalone_mode=False)
    finally:
        Path(_profile_dir).mkdir(parents=True, exist_ok=True)
        _profiler.dump_stats(Path(_profile_dir) / f"{_name}-{os.getpid()}.prof")
else:
    app()
