"""`python -m orch_sim`: run the ComfyUI-compatible test server (see `orch_sim.cli` for the options)."""

from orch_sim.cli import main

if __name__ == "__main__":
    main()
