"""``users``: local accounts and patient assignments from the command line.

``python -m facs_core users add NAME --role ROLE [--password-stdin | --sso]``,
``users list [--json]``, ``users disable NAME``, ``users enable NAME``,
``users reset NAME [--password-stdin]``, ``users role NAME ROLE``,
``users assign NAME PATIENT``, ``users unassign NAME PATIENT``.

Passwords are read from one line of standard input (``--password-stdin``, for
scripts) or typed at a prompt that does not echo (getpass); they never appear
on the command line (visible in ``ps``), in logs or in the audit trail.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from facs_core.cli._shared import cli_operator
from facs_core.errors import InputError
from facs_core.services.access import ROLES


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("users", help="local accounts, roles and patient assignments")
    commands = group.add_subparsers(dest="users_command", metavar="ACTION", parser_class=type(group))
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])

    add = commands.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    how.add_argument("--sso", action="store_true", help="single-sign-on account (user name = OIDC e-mail)")
    add.set_defaults(func=_add)

    listing = commands.add_parser("list", help="list accounts (never their hashes)")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(func=_list)

    for name, helptext, handler in (
        ("disable", "disable an account (kept for the audit trail)", _disable),
        ("enable", "re-enable a disabled account", _enable),
    ):
        parser = commands.add_parser(name, help=helptext)
        parser.add_argument("username")
        parser.set_defaults(func=handler)

    reset = commands.add_parser("reset", help="set a new password")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    reset.set_defaults(func=_reset)

    role = commands.add_parser("role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=_role)

    for name, helptext, handler in (
        ("assign", "let a clinician see a patient", _assign),
        ("unassign", "withdraw a clinician's access to a patient", _unassign),
    ):
        parser = commands.add_parser(name, help=helptext)
        parser.add_argument("username")
        parser.add_argument("patient", help="pseudonymous patient code")
        parser.set_defaults(func=handler)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to prompt for a password; use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise InputError("the two passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    from facs_core.services import accounts
    from store import open_catalog

    password = None if args.sso else _read_password(args.password_stdin)
    with open_catalog(args.data_dir) as catalog:
        accounts.add_user(catalog, cli_operator(), args.username, args.role, password)
    print(f"user {args.username} added ({args.role})")
    return 0


def _list(args: argparse.Namespace) -> int:
    import pandas as pd

    from store import open_catalog, users

    with open_catalog(args.data_dir) as catalog:
        frame = users.list_users(catalog)
    if args.json:
        print(json.dumps(frame.to_dict("records"), indent=2, default=str))
        return 0
    for row in frame.itertuples():
        state = "active" if row.active else "disabled"
        kind = "sso" if row.sso else "local"
        # An account that never signed in has no time (NaT in the table): it reads "never".
        last = "never" if pd.isna(row.last_login_at) else row.last_login_at
        print(f"{row.username:<32} {row.role:<10} {state:<8} {kind:<5} last sign-in {last}")
    return 0


def _with_catalog(args: argparse.Namespace, action, message: str) -> int:
    """Run ``action(accounts, catalog)`` (:mod:`facs_core.services.accounts`) on the store, then print ``message``."""
    from facs_core.services import accounts
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        action(accounts, catalog)
    print(message)
    return 0


def _disable(args: argparse.Namespace) -> int:
    return _with_catalog(
        args, lambda a, c: a.disable_user(c, cli_operator(), args.username), f"user {args.username} disabled"
    )


def _enable(args: argparse.Namespace) -> int:
    return _with_catalog(
        args, lambda a, c: a.enable_user(c, cli_operator(), args.username), f"user {args.username} enabled"
    )


def _reset(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    return _with_catalog(
        args,
        lambda a, c: a.reset_password(c, cli_operator(), args.username, password),
        f"password of {args.username} reset",
    )


def _role(args: argparse.Namespace) -> int:
    return _with_catalog(
        args,
        lambda a, c: a.set_role(c, cli_operator(), args.username, args.role),
        f"user {args.username} is now {args.role}",
    )


def _assign(args: argparse.Namespace) -> int:
    return _with_catalog(
        args,
        lambda a, c: a.assign_patient(c, cli_operator(), args.username, args.patient),
        f"patient {args.patient} assigned to {args.username}",
    )


def _unassign(args: argparse.Namespace) -> int:
    return _with_catalog(
        args,
        lambda a, c: a.unassign_patient(c, cli_operator(), args.username, args.patient),
        f"patient {args.patient} no longer assigned to {args.username}",
    )
