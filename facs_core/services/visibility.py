"""What a signed-in user may see: one server-side decision for every page, message and file.

The rules are data, read from the same resource files as the exports:

``resources/restricted_columns.csv``
    Columns a role never receives (free text, file names, hashes, staff
    names, server paths). :func:`visible_table` drops them from every table
    before it reaches a widget; :func:`scrub` removes their *values* from any
    text (an error message, a caption, a chart title) before it is shown.
``resources/permissions.csv``
    The patient scope of ``view_patient``: clinicians see the rows of their
    assigned patients only, researchers every patient by pseudonymous code,
    administrators no patient rows at all (counts only).

Segment labels are free text. A role that may not read the ``label`` column
sees the preset labels of ``resources/segment_labels.csv`` as they are and
every free-text label as :data:`OTHER_LABEL`, in pickers, tooltips and the
frames an analysis selects alike (:func:`segment_spans`).

Tables shown in the browser keep their values as they are (a ``-0.61``
stays ``-0.61``): formula neutralising
(:func:`facs_core.exports.neutralise_formulas`) is for downloaded files,
which a spreadsheet may evaluate. The browser's table toolbar hands out no
file (``client.disableDataExport``), and ``st.dataframe`` draws text, never
HTML or markdown.

Every function takes a :class:`Viewer` built by :func:`viewer_for`, which
re-reads the account from the catalog: a disabled account sees nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from facs_core.exports import restricted_columns
from facs_core.segments import segment_labels
from facs_core.services import access
from facs_core.services.access import User
from store.catalog import Catalog

__all__ = [
    "DUPLICATE_ELSEWHERE",
    "HIDDEN",
    "OTHER_LABEL",
    "HomeCounts",
    "Viewer",
    "duplicate_upload_message",
    "hidden_columns",
    "home_counts",
    "recent_jobs",
    "scrub",
    "scrubber",
    "segment_choices",
    "segment_label",
    "segment_spans",
    "segments_of_video",
    "store_is_empty",
    "viewer_for",
    "visible_jobs",
    "visible_table",
    "visible_video_ids",
]

#: What a free-text segment label becomes for a role that may not read labels.
OTHER_LABEL = "other"
#: What a hidden value is replaced with in a message.
HIDDEN = "[hidden]"
#: The message for an upload whose bytes are already stored for a patient the uploader may not see.
DUPLICATE_ELSEWHERE = "this file is already stored for another patient; ask an administrator"

#: Restricted columns whose values are free text or names to be removed from messages, too.
_TEXT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (restricted column, table, SQL expression giving the values with the patient)
    ("camera", "videos", "SELECT patient_id, camera AS value FROM videos"),
    ("original_name", "videos", "SELECT patient_id, original_name AS value FROM videos"),
    ("sha256", "videos", "SELECT patient_id, sha256 AS value FROM videos"),
    ("stored_path", "videos", "SELECT patient_id, stored_path AS value FROM videos"),
    ("playback_path", "videos", "SELECT patient_id, playback_path AS value FROM videos"),
    (
        "medication",
        "visit_covariates",
        "SELECT v.patient_id, c.medication AS value FROM visit_covariates c JOIN videos v USING (video_id)",
    ),
    ("label", "segments", "SELECT v.patient_id, s.label AS value FROM segments s JOIN videos v USING (video_id)"),
)
#: Values shorter than this are not searched for in messages (they would match ordinary words).
_MIN_SCRUB_LENGTH = 3
#: An absolute POSIX path of at least two parts, as OS errors print them.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/'\"`]+/)+[^\s/'\"`,;:)]*")


@dataclass(frozen=True)
class Viewer:
    """A signed-in account and what it may see.

    Attributes
    ----------
    username, role : str
        The account as the catalog holds it now.
    patients : frozenset of str or None
        Patients whose rows the viewer may see; None means every patient
        (by pseudonymous code: what else a row shows is decided by ``hidden``).
    hidden : frozenset of str
        Column names (lower case) the role never receives.
    """

    username: str
    role: str
    patients: frozenset[str] | None
    hidden: frozenset[str]

    @property
    def counts_everything(self) -> bool:
        """Whether counts and job lists cover the whole store (no assigned-patients scope)."""
        return self.patients is None

    def sees_patient(self, patient_id: object) -> bool:
        """Whether rows of ``patient_id`` may be shown."""
        return self.patients is None or (patient_id is not None and str(patient_id) in self.patients)

    def sees_column(self, column: object) -> bool:
        """Whether ``column`` may be shown."""
        return str(column).strip().lower() not in self.hidden

    @property
    def reads_labels(self) -> bool:
        """Whether free-text segment labels are shown as written."""
        return self.sees_column("label")

    @property
    def sees_paths(self) -> bool:
        """Whether server paths (the data folder) may be shown: administrators only."""
        return access.allowed(User(self.username, self.role), "admin")


def hidden_columns(role: str) -> frozenset[str]:
    """Columns ``role`` never receives, from ``resources/restricted_columns.csv``."""
    return frozenset(column for column, roles in restricted_columns().items() if {"all", role} & roles)


def viewer_for(catalog: Catalog, user: User | None) -> Viewer:
    """The :class:`Viewer` of ``user``, re-read from the catalog.

    Raises
    ------
    PermissionDenied
        Nobody is signed in, or the account is unknown or disabled.
    """
    current = access.check(catalog, user, "view_home")
    # Only an "assigned" scope limits rows; a role without patient pages
    # (the administrator) sees codes in its own tables and counts, and
    # restricted_columns.csv keeps the patients' content from it.
    scope = access.permissions().get((current.role, "view_patient"))
    patients = frozenset(access.visible_patients(catalog, current)) if scope == "assigned" else None
    return Viewer(username=current.username, role=current.role, patients=patients, hidden=hidden_columns(current.role))


# -- tables -------------------------------------------------------------------


def visible_table(viewer: Viewer, frame: pd.DataFrame, clean: Callable[[str], str] | None = None) -> pd.DataFrame:
    """``frame`` as ``viewer`` may see it: other patients' rows and hidden columns removed.

    Rows are filtered on a ``patient_id`` column when there is one. With
    ``clean`` (a :func:`scrubber`), every text cell passes through it too,
    for tables whose notes or messages may quote a stored value. Values are
    not formula-neutralised: that guard belongs to downloaded files
    (:func:`facs_core.exports.safe_csv`), not to what the browser shows.
    """
    table = frame
    if "patient_id" in table.columns and viewer.patients is not None:
        table = table[table["patient_id"].astype(str).isin(viewer.patients)]
    keep = [column for column in table.columns if viewer.sees_column(column)]
    table = table[keep].reset_index(drop=True)
    if clean is not None:
        table = table.copy()
        for column in table.columns:
            if table[column].dtype == object or pd.api.types.is_string_dtype(table[column]):
                table[column] = table[column].map(lambda v: clean(v) if isinstance(v, str) else v)
    return table


# -- segment labels ----------------------------------------------------------


def _presets() -> list[str]:
    return [preset.label for preset in segment_labels()]


def segment_label(viewer: Viewer, label: object) -> str:
    """How ``viewer`` sees one segment label: as written, or :data:`OTHER_LABEL` for free text."""
    text = "" if label is None or (isinstance(label, float) and pd.isna(label)) else str(label)
    if viewer.reads_labels or text in _presets():
        return text
    return OTHER_LABEL


def _visible_video_filter(viewer: Viewer, alias: str = "v") -> tuple[str, list[Any]]:
    if viewer.patients is None:
        return "TRUE", []
    if not viewer.patients:
        return "FALSE", []
    patients = sorted(viewer.patients)
    return f"{alias}.patient_id IN ({', '.join('?' for _ in patients)})", patients


def segment_choices(catalog: Catalog, viewer: Viewer) -> list[str]:
    """Segment labels ``viewer`` may pick, as :func:`segment_label` shows them; presets first."""
    where, params = _visible_video_filter(viewer)
    labels = catalog.query(
        f"SELECT DISTINCT s.label FROM segments s JOIN videos v USING (video_id) WHERE {where}", params
    )["label"]
    shown = {segment_label(viewer, label) for label in labels}
    presets = [p for p in _presets() if p in shown]
    return presets + sorted(shown - set(presets))


def segment_spans(catalog: Catalog, viewer: Viewer, choice: str) -> pd.DataFrame:
    """``video_id, start_s, end_s`` of the visible segments that ``viewer`` sees labelled ``choice``.

    For a viewer who sees free text as :data:`OTHER_LABEL`, that choice
    selects every segment whose label is not a preset.
    """
    where, params = _visible_video_filter(viewer)
    segments = catalog.query(
        "SELECT s.video_id, s.start_s, s.end_s, s.label FROM segments s JOIN videos v USING (video_id)"
        f" WHERE {where} ORDER BY s.video_id, s.start_s",
        params,
    )
    shown = segments["label"].map(lambda label: segment_label(viewer, label))
    return segments.loc[shown == choice, ["video_id", "start_s", "end_s"]].reset_index(drop=True)


def segments_of_video(catalog: Catalog, viewer: Viewer, video_id: str) -> pd.DataFrame:
    """The segments of one visible video, labels as :func:`segment_label` shows them, hidden columns removed.

    Empty (with the usual columns) when the video's patient is not visible.
    """
    from store import segment_rows as segment_store

    segments = segment_store.segments_for(catalog, video_id)
    patient = catalog.scalar("SELECT patient_id FROM videos WHERE video_id = ?", [video_id])
    if not viewer.sees_patient(patient):
        segments = segments.iloc[0:0]
    segments = segments.assign(label=segments["label"].map(lambda label: segment_label(viewer, label)))
    keep = [column for column in segments.columns if column == "label" or viewer.sees_column(column)]
    return segments[keep].reset_index(drop=True)


# -- home counts and jobs -------------------------------------------------------


@dataclass(frozen=True)
class HomeCounts:
    """Counts on the landing page, over the patients the viewer may count."""

    patients: int
    videos: int
    hours: float
    frames: int
    synthetic_videos: int

    @property
    def is_empty(self) -> bool:
        """True when the viewer has nothing to count (nothing stored, or nothing assigned)."""
        return self.patients == 0 and self.videos == 0


def _counted_filter(viewer: Viewer, alias: str = "v") -> tuple[str, list[Any]]:
    if viewer.counts_everything:
        return "TRUE", []
    return _visible_video_filter(viewer, alias)


def home_counts(catalog: Catalog, viewer: Viewer) -> HomeCounts:
    """Patients, videos, hours, extracted frames and synthetic videos the viewer may count."""
    where, params = _counted_filter(viewer)
    if viewer.counts_everything:
        patients = int(catalog.scalar("SELECT count(*) FROM patients"))
    else:
        patients = len(viewer.patients or ())
    row = catalog.fetchrow(
        "SELECT count(*) AS videos, coalesce(sum(duration_s), 0) / 3600.0 AS hours,"
        " count(*) FILTER (WHERE synthetic) AS synthetic_videos"
        f" FROM videos v WHERE {where}",
        params,
    )
    frames = catalog.scalar(
        "SELECT coalesce(sum(r.n_frames), 0) FROM runs r JOIN videos v USING (video_id)"
        f" WHERE r.status = 'done' AND {where}",
        params,
    )
    return HomeCounts(
        patients=patients,
        videos=int(row["videos"]),
        hours=float(row["hours"]),
        frames=int(frames),
        synthetic_videos=int(row["synthetic_videos"]),
    )


def store_is_empty(catalog: Catalog) -> bool:
    """Whether nothing at all has been stored yet (says nothing about any patient)."""
    return not catalog.scalar("SELECT count(*) FROM patients") and not catalog.scalar("SELECT count(*) FROM videos")


def visible_jobs(catalog: Catalog, viewer: Viewer, jobs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a job table (``video_id``, ``created_by`` columns) ``viewer`` may see, texts scrubbed.

    Jobs on a video are shown when its patient is visible; jobs on no video
    (demo loading, imports) only to their creator and to roles that count
    everything. Messages and errors go through :func:`scrub`.
    """
    if jobs.empty:
        return jobs.reset_index(drop=True)
    patients = catalog.query("SELECT video_id, patient_id FROM videos")
    owner = dict(zip(patients["video_id"], patients["patient_id"], strict=True))
    video_ids = jobs["video_id"] if "video_id" in jobs else pd.Series([None] * len(jobs), index=jobs.index)

    def shown(video_id: object, creator: object) -> bool:
        if video_id is None or (isinstance(video_id, float) and pd.isna(video_id)):
            return viewer.counts_everything or creator == viewer.username
        return viewer.sees_patient(owner.get(video_id)) if not viewer.counts_everything else True

    creators = jobs["created_by"] if "created_by" in jobs else pd.Series([None] * len(jobs), index=jobs.index)
    mask = [shown(v, c) for v, c in zip(video_ids, creators, strict=True)]
    table = jobs[mask].copy()
    clean = scrubber(catalog, viewer)
    for column in ("message", "error"):
        if column in table:
            table[column] = [None if pd.isna(text) else clean(str(text)) for text in table[column]]
    keep = [column for column in table.columns if viewer.sees_column(column)]
    return table[keep].reset_index(drop=True)


def recent_jobs(catalog: Catalog, viewer: Viewer, limit: int = 8) -> pd.DataFrame:
    """The newest ``limit`` jobs ``viewer`` may see (:func:`visible_jobs`)."""
    from store import job_rows

    return visible_jobs(catalog, viewer, job_rows.list_jobs(catalog, limit=10_000)).head(limit)


# -- messages ---------------------------------------------------------------------


def _forbidden_values(catalog: Catalog, viewer: Viewer) -> list[str]:
    values: set[str] = set()
    # A value the viewer reads in a row of its own (a camera model its patient
    # shares with another) is not hidden: hiding it would blank its own data.
    seen: set[str] = set()
    for column, _table, sql in _TEXT_COLUMNS:
        rows = catalog.query(sql)
        column_hidden = not viewer.sees_column(column)
        for patient, value in zip(rows["patient_id"], rows["value"], strict=True):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                continue
            text = str(value).strip()
            if column == "label" and text in _presets():
                continue
            if column_hidden or not viewer.sees_patient(patient):
                values.add(text)
            else:
                seen.add(text)
    values -= seen
    if viewer.patients is not None:
        everyone = catalog.query("SELECT patient_id FROM patients")["patient_id"]
        values.update(str(p) for p in everyone if str(p) not in viewer.patients)
    if not viewer.sees_column("author"):
        values.update(
            str(name) for name in catalog.query("SELECT username FROM users")["username"] if name != viewer.username
        )
    return sorted((v for v in values if len(v) >= _MIN_SCRUB_LENGTH), key=len, reverse=True)


def _pattern(value: str) -> str:
    escaped = re.escape(value)
    start = r"(?<![\w-])" if re.match(r"\w", value) else ""
    end = r"(?![\w-])" if re.search(r"\w$", value) else ""
    return start + escaped + end


def scrubber(catalog: Catalog, viewer: Viewer, extra: Iterable[str] = ()) -> Callable[[str], str]:
    """A function that removes from a text every value ``viewer`` may not see (see :func:`scrub`).

    Build it once per table or page run: it reads the values to remove from
    the catalog when built.
    """
    root = None if viewer.sees_paths else str(catalog.paths.root)
    values = _forbidden_values(catalog, viewer) + [v for v in extra if len(v) >= _MIN_SCRUB_LENGTH]
    pattern = re.compile("|".join(_pattern(v) for v in sorted(set(values), key=len, reverse=True))) if values else None

    def clean(text: str) -> str:
        out = str(text)
        if root is not None:
            out = _ABSOLUTE_PATH.sub(HIDDEN, out.replace(root, HIDDEN))
        if pattern is not None:
            out = pattern.sub(HIDDEN, out)
        return out

    return clean


def scrub(catalog: Catalog, viewer: Viewer, text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every value ``viewer`` may not see replaced by :data:`HIDDEN`.

    Removed: the values of restricted columns hidden from the role (camera,
    medication, free-text labels, original file names, hashes, staff names),
    anything of patients outside the viewer's scope (their codes included),
    server paths for every role but the administrator's, and ``extra``.
    """
    return scrubber(catalog, viewer, extra)(text)


def duplicate_upload_message(viewer: Viewer, record: dict[str, Any], display_name: str) -> str:
    """What to say when an upload's bytes are already stored as ``record``.

    Names the stored video and patient only when the viewer may see that
    patient; otherwise :data:`DUPLICATE_ELSEWHERE`, naming nothing.
    """
    if viewer.sees_patient(record.get("patient_id")):
        return (
            f"{display_name} is already in the store (video {record['video_id']}, patient"
            f" {record['patient_id']}); nothing was changed."
        )
    return f"{display_name}: {DUPLICATE_ELSEWHERE}."


def visible_video_ids(catalog: Catalog, viewer: Viewer, video_ids: Sequence[str]) -> list[str]:
    """The subset of ``video_ids`` whose patient ``viewer`` may see, in order."""
    if not video_ids:
        return []
    owners = catalog.query("SELECT video_id, patient_id FROM videos")
    owner = dict(zip(owners["video_id"], owners["patient_id"], strict=True))
    return [v for v in video_ids if viewer.sees_patient(owner.get(v))]
