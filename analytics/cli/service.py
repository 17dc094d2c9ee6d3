"""The ``serve`` command: the scoring service over HTTP (see :mod:`analytics.service`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.errors import InvalidParameterError


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve a saved model over HTTP, fed by live events (Ctrl+C stops it)")
    p.add_argument("model", help="a saved model folder (from `train` or the app), or a model's name in the workspace")
    p.add_argument("--port", type=int, default=8600, help="port to listen on (default 8600)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--workspace", type=Path, help="workspace folder (default MARKETLENS_WORKSPACE or ./data)")
    p.add_argument("--dataset", metavar="NAME_OR_ID",
                   help="dataset whose columns and settings apply (default: the one the model was trained on)")
    p.add_argument("--history", action="store_true",
                   help="copy the dataset's events into the live store first, so its users have scores at once")
    p.add_argument("--segmentation", metavar="NAME",
                   help="a segmentation saved for the dataset (Segments page): answers name each user's segment")
    p.add_argument("--key-file", type=Path,
                   help="API keys, one per line (default MARKETLENS_SERVICE_KEYS, else a key made in the workspace)")
    p.add_argument("--max-body-mb", type=float, default=10, help="largest request body in MB (default 10)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from analytics.service.core import ScoringService
    from analytics.service.run import load_keys, serve
    from analytics.workspace import Workspace

    if not 1 <= args.port <= 65535:
        raise InvalidParameterError(f"--port must be between 1 and 65535, got {args.port}.")
    if not 0.001 <= args.max_body_mb <= 1024:
        raise InvalidParameterError(f"--max-body-mb must be between 0.001 and 1024, got {args.max_body_mb}.")
    ws = Workspace(args.workspace)
    try:
        model_dir = _model_dir(ws, args.model)
        service = ScoringService.open(model_dir, ws, args.dataset, history=args.history,
                                       segmentation=args.segmentation)
    finally:
        ws.close()  # the app may open the workspace while the service runs
    keys, created = load_keys(service.folder, args.key_file)
    _check_address(args.host, args.port)
    print(f"serving '{service.model.name}' for '{service.dataset['name']}' on http://{args.host}:{args.port} "
          f"(docs: /docs; events stored in {service.store.path})", flush=True)
    if created:
        print(f"API key written to {created} (send it as 'Authorization: Bearer KEY')", flush=True)
    from analytics.cli import Terminated

    try:
        serve(service, keys, host=args.host, port=args.port, max_body=int(args.max_body_mb * 1024 * 1024))
    except Terminated:  # uvicorn re-raises SIGTERM once it has shut down gracefully: a normal stop
        pass
    return 0


def _check_address(host: str, port: int) -> None:
    """Refuse before announcing the service when its address cannot be listened on (busy port, unknown host)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(infos[0][4])
    except OSError as exc:
        raise InvalidParameterError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Pick another --port, stop what is using it, "
            "or give a --host of this machine (127.0.0.1 for this machine only, 0.0.0.0 for every network).") from exc


def _model_dir(ws, model: str) -> Path:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    saved = sorted(p for p in (ws.root / "models").glob(f"*/{model}") if p.is_dir())
    if len(saved) == 1:
        return saved[0]
    raise InvalidParameterError(f"'{model}' is neither a model folder nor the name of one model saved in the "
                                f"workspace at {ws.root}.")
