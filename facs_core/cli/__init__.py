"""The command line: ``python -m facs_core [--data-dir DIR] COMMAND ...``.

Each command group lives in its own module in this package and exposes
``register(subparsers)``, which adds its parsers and sets ``func`` (a callable
taking the parsed arguments and returning an exit code). A module that adds an
analysis under ``stats`` (``stats partial-corr``, ``stats scalogram``) exposes
``register_stats(stats_subparsers)`` instead or as well. Listing a module in
:data:`COMMAND_MODULES` is all it takes to add a command.

Every call builds the whole parser (``--help`` included), so a command module
imports only the standard library, :mod:`facs_core.errors`,
:mod:`facs_core.cli._shared` and light constant modules at its top; the library
(pandas, duckdb, scipy, the store) is imported inside the handlers. A constant
the parser needs from a heavy module is repeated in the command module, and a
test checks it still agrees (``tests/test_cli_startup.py``).

Errors a user can act on (:class:`facs_core.errors.FacsError`) print as one
line, ``error: ...``, with exit code 2. Anything else prints one line naming
the log file that holds the details: a user never sees a traceback. A reader
that closes the pipe early (``videos list | head``) ends the command quietly
with exit code 141, as the shell reports for a program stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from facs_core import __version__
from facs_core.errors import FacsError
from facs_core.services.logs import log_exception

#: Command modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "facs_core.cli.store_command",
    "facs_core.cli.video_command",
    "facs_core.cli.import_command",
    "facs_core.cli.extract_command",
    "facs_core.cli.demo_command",
    "facs_core.cli.users_command",
    "facs_core.cli.backup_command",
    "facs_core.cli.verify_command",
    "facs_core.cli.stats_command",
    "facs_core.cli.scalogram_command",
    "facs_core.cli.profile_command",
    "facs_core.cli.agreement_command",
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered command."""
    parser = _Parser(
        prog="python -m facs_core",
        description="FACS interview dashboard, headless: store, extraction, features, statistics.",
    )
    parser.add_argument("--version", action="version", version=f"facs_core {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data folder holding the store (default: $FACS_DATA_DIR, else ./data)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = [importlib.import_module(name) for name in COMMAND_MODULES]
    for module in modules:
        if hasattr(module, "register"):
            module.register(subparsers)
    if any(hasattr(module, "register_stats") for module in modules):
        stats = subparsers.add_parser("stats", help="statistics: AU-score partial correlations, scalogram maps")
        stats_subparsers = stats.add_subparsers(dest="analysis", metavar="ANALYSIS", parser_class=_Parser)
        for module in modules:
            if hasattr(module, "register_stats"):
                module.register_stats(stats_subparsers)
    return parser


def _data_folder(data_dir: str | None) -> Path:
    from store.paths import resolve_data_dir

    return resolve_data_dir(data_dir)


def _forget_new_store(data_dir: str | None, existed: bool) -> None:
    """Remove a data folder this failed command created, if it holds nothing but an empty store.

    Opening the catalog creates the folder (``./data`` by default); a command
    that then fails must not leave it behind as a side effect.
    """
    if existed:
        return
    from store.pristine import is_pristine

    folder = _data_folder(data_dir)
    if folder.exists() and is_pristine(folder):
        shutil.rmtree(folder, ignore_errors=True)


#: Exit code after the reader of the output closed the pipe: 128 + SIGPIPE, what a shell reports for
#: ``yes | head``; nothing is printed.
BROKEN_PIPE_EXIT = 141


def _quiet_stdout() -> None:
    """Point standard output at the null device, so Python's final flush of it cannot fail and print.

    As the Python documentation advises for a closed pipe (``signal`` module,
    "Note on SIGPIPE"): the buffered rest of the output has nowhere to go.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # a replaced stdout (tests capturing output) has no descriptor to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code.

    Whatever a command writes (the store, backups, result tables of patient
    data) is owner-only: the umask is tightened to 077 first, as
    ``store.paths.private_umask`` does (not imported here, to keep ``--help`` light).
    """
    os.umask(os.umask(0o077) | 0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    data_dir = getattr(args, "data_dir", None)
    existed = _data_folder(data_dir).exists()
    try:
        return int(args.func(args) or 0)
    except FacsError as exc:
        _forget_new_store(data_dir, existed)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``videos list | head``): the output was cut short by request, not by a fault.
        _quiet_stdout()
        return BROKEN_PIPE_EXIT
    except Exception as exc:
        _forget_new_store(data_dir, existed)
        where = log_exception(exc, data_dir)
        print(f"error: unexpected {type(exc).__name__}; details in {where}", file=sys.stderr)
        return 1
