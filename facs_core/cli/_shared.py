"""Small pieces several command modules share."""

from __future__ import annotations

import getpass
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from facs_core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from facs_core.services.access import LocalOperator


def cli_actor() -> str:
    """The audit trail's name for whoever ran the command: ``cli:<OS account>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        # No passwd entry for this uid (containers) or no login name at all.
        return "cli"


def checked_out(value: str, suffixes: tuple[str, ...] = ()) -> Path:
    """The ``--out`` path, refused unless its folder already exists and is writable.

    Checked before any work starts; a missing folder is never created (a typo
    in ``--out`` must not scatter folders over the disk).
    """
    target = Path(value).expanduser().absolute()
    if suffixes and target.suffix.lower() not in suffixes:
        raise InputError(f"--out {value} must be a {' or '.join(suffixes)} file")
    folder = target.parent
    if not folder.exists():
        raise InputError(f"--out {value}: folder {folder} does not exist (it is not created)")
    if not folder.is_dir():
        raise InputError(f"--out {value}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"--out {value}: folder {folder} is not writable")
    if target.is_dir():
        raise InputError(f"--out {value}: is a folder, not a file")
    return target


def cli_operator() -> LocalOperator:
    """The acting user of a command: the local operator, audited as ``cli:<OS account>``.

    A command is authorised by the operating system (see
    :class:`facs_core.services.access.LocalOperator`): whoever may run it owns the
    store's owner-only files anyway.
    """
    from facs_core.services.access import LocalOperator

    return LocalOperator(cli_actor())


def write_csv_atomically(table: pd.DataFrame, target: str | os.PathLike[str]) -> Path:
    """Write ``table`` as CSV through a temporary file and a rename: all or nothing.

    An interrupted or failed run never leaves half a result, and an existing
    result stays as it was. Cells a spreadsheet would run as formulas are
    neutralised exactly as the dashboard's exports do
    (:func:`facs_core.exports.safe_csv`).
    """
    from facs_core.exports import safe_csv

    target = Path(target)
    if not target.parent.is_dir():
        raise InputError(f"output folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(safe_csv(table))
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write result {target}: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
