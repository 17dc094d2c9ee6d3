"""Command line: the same pipeline as the app, for scripts and schedules (``python -m analytics`` or ``marketlens``).

Every command prints one readable line and exits non-zero on bad input
(exit 2 for problems with the input, 3 for anything unexpected); ``--json``
prints a machine-readable summary on stdout. One module per group of commands:
``data`` (features, import, datasets), ``segments`` (segment, embed),
``journeys`` (funnel, retention), ``channels`` (attribution), ``models``
(train, score), ``value`` (clv), ``recommend`` (recommend), ``report`` (the
HTML report of a dataset) and ``service`` (serve); ``common`` holds the flags and helpers they share.
"""

from __future__ import annotations

import argparse
import signal
import sys

import duckdb

from analytics.cli import channels, data, journeys, models, recommend, report, segments, service, value
from analytics.errors import MarketLensError

EXIT_INPUT, EXIT_BUG = 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # as a shell reports a process stopped by SIGINT / SIGTERM


class Terminated(BaseException):
    """SIGTERM (a scheduler's timeout, ``kill``): unwinds like Ctrl+C, so scratch workspaces are removed."""


_terminated = False


def _on_sigterm(signum, frame) -> None:
    # Inside a DuckDB query the raise becomes DuckDB's "Query interrupted" error: the flag tells them apart.
    global _terminated
    _terminated = True
    raise Terminated()
COMMAND_GROUPS = (data, segments, journeys, channels, models, value, recommend, report, service)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    global _terminated
    _terminated = False
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): keep its handling
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except MarketLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless asked
        from analytics.engines.limits import path_error, resource_error

        step = f"'{args.command}'"
        if (limit := resource_error(exc, step) or path_error(exc, step)) is not None:  # the machine, not a bug
            print(f"error: {limit}", file=sys.stderr)
            return EXIT_INPUT
        if "interrupted" in str(exc).lower() and isinstance(exc, (RuntimeError, duckdb.Error)):
            # Ctrl+C or SIGTERM while DuckDB was working: as for Python's own KeyboardInterrupt
            return EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run again with --debug for details)", file=sys.stderr)
        return EXIT_BUG
    finally:
        from analytics.workspace import close_all

        close_all()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketlens", description="MarketLens without the browser.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser
