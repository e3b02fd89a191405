"""``trunkline serve`` and ``trunkline worker``; both read ``Settings.from_env()``."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from trunkline.settings import Settings


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None,
                        help="worker threads (per process; default: TRUNKLINE_WORKERS, 2)")
    parser.add_argument("--max-attempts", type=int, default=None, help="attempts before a delivery fails")
    parser.add_argument("--retry-delay", type=float, default=None,
                        help="first retry delay in seconds (doubles per attempt)")
    parser.add_argument("--recovery-interval", type=float, default=None,
                        help="seconds between recovery sweeps")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _settings(args: argparse.Namespace) -> tuple[Settings, int]:
    settings = Settings.from_env()
    overrides = {
        "max_attempts": args.max_attempts,
        "retry_base_delay": args.retry_delay,
        "recovery_interval": args.recovery_interval,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    threads = settings.workers if args.workers is None else args.workers
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    # huey logs every task at INFO; at hundreds of deliveries a second that is noise (and CPU).
    logging.getLogger("huey").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings, max(0, threads)


def public_url(host: str, port: int) -> str:
    """The serve address as a URL (a wildcard address: this host's name)."""
    import socket

    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(args: argparse.Namespace) -> int:
    from trunkline.jobs.service import run_serve

    settings, threads = _settings(args)
    if not settings.public_url:  # links to logs point here unless TRUNKLINE_PUBLIC_URL says otherwise
        settings = dataclasses.replace(settings, public_url=public_url(args.host, args.port))
    return run_serve(settings, args.host, args.port, threads, log_level=args.log_level,
                     processes=args.processes)


def _worker(args: argparse.Namespace) -> int:
    from trunkline.jobs.service import run_worker

    settings, threads = _settings(args)
    return run_worker(settings, max(1, threads), metrics_port=args.metrics_port)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the webhook receiver with in-process workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--processes", type=int, default=1,
                       help="identical serve processes sharing the port (one Python process uses ~1 core)")
    _add_job_options(serve)
    serve.set_defaults(func=_serve)

    worker = subparsers.add_parser("worker", help="run workers only (share the database and queue)")
    _add_job_options(worker)
    worker.add_argument("--metrics-port", type=int, default=0,
                        help="serve /metrics on 127.0.0.1:PORT (0 = off)")
    worker.set_defaults(func=_worker)
