"""``backup`` and ``restore``: consistent, checksummed snapshots of the whole store.

``python -m facs_core backup [--out FILE]`` writes catalog, shards and videos
to one tar file with a sha256 manifest; ``python -m facs_core restore FILE
[--force]`` verifies every checksum, restores into a temporary folder and
renames it into place. ``backup --verify FILE`` only checks a backup.
"""

from __future__ import annotations

import argparse

from facs_core.cli._shared import cli_operator


def register(subparsers: argparse._SubParsersAction) -> None:
    make = subparsers.add_parser("backup", help="write a checksummed snapshot of the store (catalog, shards, videos)")
    make.add_argument("--out", metavar="FILE", help="backup file to write (default: DATA/backups/facs-backup-TIME.tar)")
    make.add_argument("--verify", metavar="FILE", help="only check an existing backup file against its checksums")
    make.add_argument(
        "--allow-damaged",
        action="store_true",
        help="archive (or accept, with --verify) a store that fails 'verify'; the record says it was damaged",
    )
    make.set_defaults(func=_backup)
    back = subparsers.add_parser("restore", help="restore a backup into the data folder (checksum-verified)")
    back.add_argument("file", metavar="FILE", help="backup file written by 'backup'")
    back.add_argument("--force", action="store_true", help="restore over a non-empty data folder (kept, renamed aside)")
    back.add_argument("--allow-damaged", action="store_true", help="restore a backup whose store fails verification")
    back.set_defaults(func=_restore)


def _backup(args: argparse.Namespace) -> int:
    from facs_core.services import backup as backups
    from store import open_catalog

    if args.verify:
        manifest = backups.verify(args.verify, user=cli_operator(), allow_damaged=args.allow_damaged)
        print(f"{args.verify}: {len(manifest['files'])} files verified (taken {manifest['created_at']})")
        return 0
    with open_catalog(args.data_dir) as catalog:
        result = backups.backup(catalog, args.out, user=cli_operator(), allow_damaged=args.allow_damaged)
    for problem in result.problems:
        print(f"damaged: {problem}")
    print(f"backup written to {result.archive} ({result.files} files, {result.bytes / 1e6:.1f} MB)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from facs_core.services import backup as backups
    from store.paths import resolve_data_dir

    target = resolve_data_dir(args.data_dir)
    manifest = backups.restore(
        args.file, target, force=args.force, user=cli_operator(), allow_damaged=args.allow_damaged
    )
    print(f"restored {len(manifest['files'])} files into {target} (backup taken {manifest['created_at']})")
    return 0
