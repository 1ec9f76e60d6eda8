"""`python -m orch_cli`: the `orch` command.

With `ORCH_PROFILE_DIR` set, the process runs under cProfile and writes `<dir>/<subcommand>-<pid>.prof` when it
exits (a service exits cleanly on SIGTERM), for finding where a process spends its CPU in a benchmark run. It counts
the main thread's CPU time, not wall time, so a loaded machine does not charge waiting to the code that waited.
"""

import os
import sys

from orch_cli.main import app

_profile_dir = os.environ.get("ORCH_PROFILE_DIR")
if _profile_dir:
    import cProfile
    import signal
    import time
    from pathlib import Path

    # uvicorn re-raises the SIGTERM it handled once it has shut down: exit through Python so the profile is written
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    _name = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "orch")
    _profiler = cProfile.Profile(time.thread_time)
    try:
        _profiler.runcall(app, standalone_mode=False)
    finally:
        Path(_profile_dir).mkdir(parents=True, exist_ok=True)
        _profiler.dump_stats(Path(_profile_dir) / f"{_name}-{os.getpid()}.prof")
else:
    app()
