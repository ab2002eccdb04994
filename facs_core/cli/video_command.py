"""``videos add|list`` and ``segments add|list|edit|delete``.

``python -m facs_core videos add VIDEO --patient CODE [--visit-date YYYY-MM-DD]
[--age YEARS] [--sex female|male|other] [--medication TEXT] [--camera TEXT]
[--score bdi=23 ...]`` stores a video by content hash and catalogues it
(without a visit date, which the Upload page requires, the visit is stored
undated with a one-line warning: scripts written against the command's
contract keep working);
``segments`` marks symptom segments on a stored video's timeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from facs_core.cli._shared import cli_operator
from facs_core.errors import InputError
from facs_core.segments import OVERLAP_POLICIES, segment_labels

if TYPE_CHECKING:
    import pandas as pd


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def _score(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: use INSTRUMENT=SCORE, e.g. bdi=23")
    return name.strip(), value.strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    videos = subparsers.add_parser("videos", help="store interview videos and list them")
    video_commands = videos.add_subparsers(dest="videos_command", metavar="COMMAND", parser_class=type(videos))
    add = video_commands.add_parser("add", help="probe, de-duplicate and store a video with its visit's data")
    add.add_argument("video", metavar="VIDEO", help="an mp4, mov, avi or mkv file")
    add.add_argument("--patient", required=True, metavar="CODE", help="pseudonymous patient code, e.g. P017")
    add.add_argument(
        "--visit-date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the date of the visit (give it: repeat visits follow it; without it the visit is stored undated)",
    )
    add.add_argument("--recording-date", type=_date, metavar="YYYY-MM-DD")
    add.add_argument("--age", type=float, metavar="YEARS", help="age at the visit")
    add.add_argument("--sex", help="female, male or other")
    add.add_argument("--medication", help="medication at the visit (free text)")
    add.add_argument("--camera", help="camera or room (free text)")
    add.add_argument("--repeat-visit", choices=("yes", "no"), help="default: derived from earlier visits")
    add.add_argument(
        "--score",
        type=_score,
        action="append",
        default=[],
        metavar="INSTRUMENT=SCORE",
        help="a rating, e.g. bdi=23 (repeatable)",
    )
    add.add_argument(
        "--no-playback", action="store_true", help="do not make a browser playback copy even when the codec needs one"
    )
    add.set_defaults(func=_videos_add)
    listing = video_commands.add_parser("list", help="the stored videos")
    listing.add_argument("--patient", metavar="CODE")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(func=_videos_list)

    segments = subparsers.add_parser("segments", help="mark symptom segments on a video's timeline")
    seg_commands = segments.add_subparsers(dest="segments_command", metavar="COMMAND", parser_class=type(segments))
    presets = ", ".join(label.label for label in segment_labels())
    seg_add = seg_commands.add_parser("add", help="mark a segment")
    seg_add.add_argument("video_id", metavar="VIDEO_ID")
    _segment_fields(seg_add, required=True, label_help=f"a preset ({presets}) or free text")
    seg_add.set_defaults(func=_segments_add)
    seg_list = seg_commands.add_parser("list", help="a video's segments")
    seg_list.add_argument("video_id", metavar="VIDEO_ID")
    seg_list.add_argument("--json", action="store_true", help="print as JSON")
    seg_list.set_defaults(func=_segments_list)
    seg_edit = seg_commands.add_parser("edit", help="change a segment's times or label")
    seg_edit.add_argument("segment_id", type=int, metavar="SEGMENT_ID")
    seg_edit.add_argument("--revision", type=int, required=True, help="the revision you are editing (see list)")
    _segment_fields(seg_edit, required=False)
    seg_edit.set_defaults(func=_segments_edit)
    seg_delete = seg_commands.add_parser("delete", help="delete a segment")
    seg_delete.add_argument("segment_id", type=int, metavar="SEGMENT_ID")
    seg_delete.add_argument("--revision", type=int, help="refuse if the segment changed since this revision")
    _author_option(seg_delete)
    seg_delete.set_defaults(func=_segments_delete)


def _segment_fields(parser: argparse.ArgumentParser, *, required: bool, label_help: str | None = None) -> None:
    """A segment's ``--start``, ``--end``, ``--label``, ``--on-overlap`` and ``--author``: all needed to add one."""
    parser.add_argument("--start", type=float, required=required, metavar="SECONDS")
    parser.add_argument("--end", type=float, required=required, metavar="SECONDS")
    parser.add_argument("--label", required=required, help=label_help)
    parser.add_argument("--on-overlap", choices=OVERLAP_POLICIES, default="refuse")
    _author_option(parser)


def _author_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--author", help="name stored with the segment (default: cli:<OS account>)")


def _videos_add(args: argparse.Namespace) -> int:
    from facs_core.damage import damage_status
    from facs_core.services.ingest import check_visit_date, ingest_video
    from facs_core.services.playback import ensure_playback_copy, needs_playback_copy
    from store import open_catalog

    path = Path(args.video)
    if not path.is_file():
        raise InputError(f"{args.video}: file not found")
    if args.visit_date is None:
        # The command's contract has the date optional; the page requires it. Said once, then stored undated.
        print(
            "warning: no --visit-date: the visit is stored undated, and whether it repeats an earlier visit"
            " follows from the visits already stored",
            file=sys.stderr,
        )
    else:
        check_visit_date(args.visit_date, "--visit-date")
    repeat = None if args.repeat_visit is None else args.repeat_visit == "yes"
    with open_catalog(args.data_dir) as catalog:
        record, created = ingest_video(
            catalog,
            path,
            original_name=path.name,
            patient_id=args.patient,
            visit_date=args.visit_date,
            recording_date=args.recording_date,
            camera=args.camera,
            age=args.age,
            sex=args.sex,
            medication=args.medication,
            scores=dict(args.score),
            repeat_visit=repeat,
            user=cli_operator(),
        )
        if not created:
            print(f"already stored as video {record['video_id']} (same content); nothing changed")
            return 0
        print(
            f"stored video {record['video_id']}: {record['container']} {record['codec']},"
            f" {record['frame_count']} frames, {record['fps']:.3f} fps, {record['duration_s']:.2f} s,"
            f" {record['width']}x{record['height']}"
        )
        damage = damage_status(record)
        if damage:
            errors = int(record.get("decode_errors") or 0)
            print(f"video {record['video_id']} is {damage} ({errors} decoder errors); stored with this status")
        if needs_playback_copy(record) and not args.no_playback:
            playback = ensure_playback_copy(catalog, record["video_id"])
            print(f"browser playback copy: {playback}")
    return 0


def _videos_list(args: argparse.Namespace) -> int:
    from facs_core.damage import damage_status
    from store import listings, open_catalog

    with open_catalog(args.data_dir) as catalog:
        table = listings.video_list(catalog, args.patient)
    table["status"] = [damage_status(row) or "ok" for row in table.to_dict("records")]
    table = table.drop(columns=["header_frame_count", "decode_errors"])
    shown = table.astype(object).where(table.notna(), "–")
    for column in ("visit_date", "recording_date"):
        # A date reads as a date (2023-07-14), not as a midnight timestamp; a missing one as "–".
        if column in table:
            shown[column] = [value.date().isoformat() if hasattr(value, "date") else value for value in shown[column]]
    # A missing value reads "–", not NaN, None or <NA> (whichever the column's dtype keeps).
    _print_table(table, args.json, "no videos stored", shown=shown)
    return 0


def _print_table(table: pd.DataFrame, as_json: bool, empty: str, shown: pd.DataFrame | None = None) -> None:
    """``table`` as JSON records, ``empty`` when it has no rows, else ``shown`` (default: the table) as text."""
    if as_json:
        print(json.dumps(table.to_dict("records"), indent=2, default=str))
    elif table.empty:
        print(empty)
    else:
        print((table if shown is None else shown).to_string(index=False))


def _print_segment(segment: dict) -> None:
    print(
        f"segment {segment['segment_id']} (revision {segment['revision']}): {segment['start_s']:.3f}-"
        f"{segment['end_s']:.3f} s, {segment['label']}"
    )


def _segments_add(args: argparse.Namespace) -> int:
    from facs_core.services.segment_edits import add_segment

    return _change_segment(args, add_segment, args.video_id, args.start, args.end, args.label)


def _change_segment(args: argparse.Namespace, change: Callable[..., dict], *values: object, **fields: object) -> int:
    """``change(catalog, operator, *values, author=, on_overlap=, **fields)`` on the store; prints the segment."""
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        segment = change(catalog, cli_operator(), *values, author=args.author, on_overlap=args.on_overlap, **fields)
    _print_segment(segment)
    return 0


def _segments_list(args: argparse.Namespace) -> int:
    from store import open_catalog
    from store.segment_rows import segments_for
    from store.videos import get_video

    with open_catalog(args.data_dir) as catalog:
        if get_video(catalog, args.video_id) is None:
            raise InputError(f"video {args.video_id} is not in the store")
        table = segments_for(catalog, args.video_id)
    _print_table(table, args.json, f"video {args.video_id} has no segments: extraction covers the whole video")
    return 0


def _segments_edit(args: argparse.Namespace) -> int:
    from facs_core.services.segment_edits import update_segment

    return _change_segment(
        args,
        update_segment,
        args.segment_id,
        expected_revision=args.revision,
        start_s=args.start,
        end_s=args.end,
        label=args.label,
    )


def _segments_delete(args: argparse.Namespace) -> int:
    from facs_core.services.segment_edits import delete_segment
    from store import open_catalog

    with open_catalog(args.data_dir) as catalog:
        delete_segment(catalog, cli_operator(), args.segment_id, author=args.author, expected_revision=args.revision)
    print(f"segment {args.segment_id} deleted")
    return 0
