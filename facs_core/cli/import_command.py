"""``import``: per-frame results made by py-feat or OpenFace, into a per-frame Parquet table.

``python -m facs_core import FILE --format openface|pyfeat --out FRAMES.parquet``
(exact contract). Optional ``--fps`` or ``--video`` give timestamps when the file
has none (py-feat's CSV records frame numbers only); ``--video`` uses the
decoder's own timestamps of that video.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from facs_core.cli._shared import checked_out

# facs_core.importers.FORMATS, repeated so that building the parser (every CLI
# call, --help included) does not import pandas; a test checks they agree.
FORMATS: tuple[str, ...] = ("openface", "pyfeat")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert py-feat or OpenFace per-frame CSV output into a per-frame Parquet table",
    )
    parser.add_argument("file", metavar="FILE", help="the CSV file written by py-feat or OpenFace 2.x")
    parser.add_argument("--format", required=True, choices=FORMATS, help="which tool wrote FILE")
    parser.add_argument("--out", required=True, metavar="FRAMES.parquet", help="where to write the per-frame table")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--fps", type=float, help="frame rate, for timestamps = frame / fps")
    timing.add_argument("--video", metavar="VIDEO", help="the analysed video: timestamps from its decoder")
    parser.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from facs_core.importers import import_file
    from store.shards import write_atomically

    source = Path(args.file)
    out = checked_out(args.out, (".parquet",))
    timestamps = None
    frame_size = None
    if args.video:
        from facs_core.decode import frame_timestamps
        from facs_core.probe import probe_video

        metadata = probe_video(args.video)
        frame_size = (metadata.width, metadata.height)
        timestamps = frame_timestamps(args.video)
    table = import_file(source, args.format, timestamps=timestamps, fps=args.fps, frame_size=frame_size)
    write_atomically(pa.Table.from_pandas(table, preserve_index=False), out)
    faces = int(table["face"].sum())
    print(f"wrote {len(table)} frames ({faces} with a face) to {out}")
    if table["timestamp"].isna().all():
        print("note: the file has no timestamps; pass --fps or --video to add them")
    return 0
