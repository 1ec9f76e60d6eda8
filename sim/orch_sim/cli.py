"""Command line of the sim (`python -m orch_sim`, `orch sim`): parse options, build a SimConfig, serve."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from orch_sim.config import Faults, SimConfig, parse_byte_size, parse_models

__all__ = ["build_parser", "config_from_args", "main", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orch sim", description="A ComfyUI-compatible test server (ComfyUI 0.3.64 wire behaviour).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8188,
                        help="port (default 8188; 0 picks a free one and prints it)")
    parser.add_argument("--object-info", type=Path, default=None,
                        help="an /object_info JSON to serve instead of the bundled ComfyUI 0.3.64 one")
    parser.add_argument("--data-dir", type=Path, default=Path("sim-data"),
                        help="holds input/, output/, temp/ and user/ (default ./sim-data)")
    parser.add_argument("--speed", type=float, default=1.0, help="divide all simulated GPU time by this")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="seconds per sampler step at speed 1")
    parser.add_argument("--model-load-seconds", type=float, default=0.0, help="seconds to load a checkpoint")
    parser.add_argument("--models", action="append", default=[], metavar="FOLDER=A,B",
                        help="model files to pretend exist, e.g. checkpoints=sd15.safetensors (repeatable)")
    parser.add_argument("--demo-models", action="store_true",
                        help="also offer the node set's demo model files (covers the bundled UI templates)")
    parser.add_argument("--fail-at-node", default=None, metavar="ID_OR_CLASS",
                        help="raise a runtime error when this node id or class runs")
    parser.add_argument("--crash-after-steps", type=int, default=None, metavar="K",
                        help="kill the process (os._exit) once a job has reported K progress steps")
    parser.add_argument("--hang-at-node", default=None, metavar="ID_OR_CLASS",
                        help="stop making progress at this node id or class (sockets stay open; /interrupt ends it)")
    parser.add_argument("--slow-object-info", type=float, default=0.0, metavar="S",
                        help="delay every GET /object_info by S seconds")
    parser.add_argument("--gpu-name", default=None,
                        help="simulate a CUDA device of this name (/system_stats, readings at GET /sim/gpu)")
    parser.add_argument("--vram", default="24GB", help="VRAM of the fake GPU (bytes or e.g. 24GB)")
    parser.add_argument("--enable-cors-header", nargs="?", const="*", default=None, metavar="ORIGIN",
                        help="send CORS headers (default origin *) instead of ComfyUI's origin check")
    parser.add_argument("--accept-any-prompt-id", action="store_true",
                        help="accept non-UUID prompt_id values like ComfyUI 0.3.64 (default: 400 invalid_prompt_id)")
    parser.add_argument("--log-level", default="warning", help="uvicorn/sim log level")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    faults = Faults(fail_at_node=args.fail_at_node, crash_after_steps=args.crash_after_steps,
                    hang_at_node=args.hang_at_node, slow_object_info=args.slow_object_info)
    return SimConfig(
        host=args.host, port=args.port, data_dir=args.data_dir, object_info_file=args.object_info,
        speed=args.speed, step_seconds=args.step_seconds, model_load_seconds=args.model_load_seconds,
        models=parse_models(args.models), demo_models=args.demo_models, faults=faults, gpu_name=args.gpu_name,
        vram=parse_byte_size(args.vram),
        cors_origin=args.enable_cors_header, accept_any_prompt_id=args.accept_any_prompt_id)


def serve(config: SimConfig, log_level: str = "warning") -> None:
    """Run the sim in the foreground until interrupted."""
    # One BLAS thread, set before numpy loads: a sim stands in for one GPU server, and its small matrix products
    # gain nothing from a second thread, which only spins (VAEDecode of a 64×64 latent: 33 → 16 ms of CPU, same
    # wall time), taking a core from the other processes of a fleet on one machine.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import uvicorn

    from orch_sim.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        sock = _bind(config.host, config.port)
    except OSError as exc:
        print(f"orch sim: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc
    config.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level=log_level, ws="websockets-sansio",
                                           ws_max_size=64 * 1024 * 1024))
    print(f"orch sim: serving ComfyUI API on http://{config.host}:{config.port} (data {config.data_dir})",
          file=sys.stderr, flush=True)
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """Bind before start-up, so a taken port fails at once and `--port 0` can say which port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    serve(config, args.log_level)
