"""Small pieces several command modules share."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    """The audit trail's name for whoever ran the command: ``cli:<OS account>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        # No passwd entry for this uid (containers) or no login name at all.
        return "cli"
