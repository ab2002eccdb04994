"""Downloads from the dashboard: authorised when the file is made, filtered, audited.

The one way a page hands a table to the browser as a file. The filtering and
formula neutralising are :mod:`facs_core.exports`; this adds the acting
user's permission, checked at the moment the file is made, and the audit entry.

A download button's file is made after its page was drawn, outside any page
run, so nothing else notices then that the session behind it has ended:
:func:`check_session` re-reads the sign-in session (signed out, inactivity
timeout, maximum length, account disabled) when the file is made.

:func:`features_export` builds the per-video features table the Export page
offers and ``python -m facs_core features --from-store`` writes: the chosen
visits' clinical values and features, each row's backend and model version,
ending with the provenance columns
(:data:`facs_core.stats.provenance.FEATURE_PROVENANCE_COLUMNS`) and carrying
the provenance block in ``attrs`` (a Parquet file's metadata), as the
statistics tables do.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from facs_core import exports
from facs_core.errors import InputError
from facs_core.services import access, session_cookie
from facs_core.services.access import PermissionDenied, User
from store import Catalog, audit, sessions

if TYPE_CHECKING:
    from facs_core.services.analysis import CohortChoice
    from facs_core.services.visibility import Viewer

__all__ = ["EXPORT_FORMATS", "check_session", "export_for", "features_command", "features_export", "frames_export"]

#: File formats of :func:`export_for`.
EXPORT_FORMATS = ("csv", "parquet")


def check_session(catalog, user: User | None, session_token: str | None) -> User:
    """``user`` as the catalog holds it now, if the browser session a file is made for is still open.

    Call it when a deferred download's file is made. The request counts as
    the user's activity (a click). Without a session token (a page run by
    AppTest, a command) only the account is checked.

    Parameters
    ----------
    catalog : store.catalog.Catalog
    user : facs_core.services.access.User or None
        The user the page was drawn for.
    session_token : str or None
        That tab's session token, captured when the page was drawn.

    Raises
    ------
    PermissionDenied
        The session has ended (signed out, timed out, expired, account
        disabled) or belongs to someone else; audited.
    """
    if session_token is None or user is None:
        return access.authorise(catalog, user, "view_home", target="download")
    timeout_s = session_cookie.idle_timeout_minutes() * 60
    resolved = sessions.resolve(catalog, session_token, idle_timeout_s=timeout_s)
    if resolved.user is None or resolved.user.username != user.username:
        audit.record(catalog, user.username, audit.ACCESS_DENIED, None, f"download; session ended ({resolved.reason})")
        raise PermissionDenied(f"your session has ended ({resolved.reason}); sign in again")
    return resolved.user


def export_for(
    catalog,
    user: User,
    frame: pd.DataFrame,
    *,
    what: str,
    fmt: str = "csv",
    action: str = "export",
    session_token: str | None = None,
) -> bytes:
    """The file ``user`` downloads: authorised now, filtered for their current role, audited.

    Called when the file is made (a download button's deferred data), not
    when the page was drawn, so an account disabled or demoted meanwhile gets
    nothing. A frame with a ``patient_id`` column needs ``action`` on every
    patient in it.

    Parameters
    ----------
    catalog : store.catalog.Catalog
    user : facs_core.services.access.User
        The acting user.
    frame : DataFrame
        What the page shows; restricted columns are dropped for the role.
    what : str
        Non-identifying description for the audit trail (``"AU summary"``).
    fmt : {"csv", "parquet"}
    action : str
        The permission needed: ``"export"``, or ``"admin"`` for the audit log.
    session_token : str, optional
        The browser session the download was offered in (captured when the
        page was drawn); checked now with :func:`check_session`. Pages always
        pass it.

    Raises
    ------
    PermissionDenied
        The user may not export this, or the session has ended (audited).
    InputError
        An unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if session_token is not None:
        check_session(catalog, user, session_token)
    current = access.authorise(catalog, user, action, target=what)
    if "patient_id" in frame.columns and access.permissions().get((current.role, action)) == "assigned":
        for patient in frame["patient_id"].dropna().unique():
            access.authorise(catalog, current, action, str(patient), target=what)
    data = exports.export_csv(frame, current.role) if fmt == "csv" else exports.export_parquet(frame, current.role)
    audit.record(catalog, current.username, audit.EXPORT, None, f"{what} {fmt}")
    return data


def features_export(
    catalog: Catalog, viewer: Viewer, choice: CohortChoice | None = None, patients: Sequence[str] | None = None
) -> pd.DataFrame:
    """The per-video features of the chosen visits with their clinical values, and where they came from.

    The visits are chosen as for every statistic
    (:func:`facs_core.services.analysis.cohort_visits`: data source, segment
    label); ``patients`` narrows them to the patients a user may see.

    Parameters
    ----------
    catalog : store.catalog.Catalog
    viewer : facs_core.services.visibility.Viewer
        Whose segment labels a segment choice refers to.
    choice : facs_core.services.analysis.CohortChoice, optional
        Data source (default real whenever the store holds a real visit)
        and segment label (default whole videos).
    patients : sequence of str, optional
        Only these patients' visits (default every patient).

    Returns
    -------
    DataFrame
        The clinical columns (``video_id, patient_id, visit_date, synthetic``,
        scores, covariates), ``backend, backend_version``, the features of
        :func:`facs_core.features.feature_columns` (with ``frames_analysed``
        after ``segmented``: :func:`facs_core.features.with_extraction_scope`), then
        :data:`~facs_core.stats.provenance.FEATURE_PROVENANCE_COLUMNS`.
        ``attrs``: ``provenance`` and ``notes`` (visits left out and why).
        The input hash covers the store state as the statistics' does
        (:func:`facs_core.services.analysis.store_inputs_hash`: each visit's
        extraction run, the clinical values exported, the segments).
    """
    from facs_core.services import analysis
    from facs_core.stats import provenance
    from store import shards

    choice = choice or analysis.CohortChoice()
    clinical, segments, source, notes = analysis.cohort_visits(catalog, viewer, choice)
    if patients is not None:
        clinical = clinical[clinical["patient_id"].isin(list(patients))]
    runs = analysis.latest_runs(catalog)
    runs = runs[runs["video_id"].isin(set(clinical["video_id"]))]
    # DuckDB reads the shards without page checks: verified first (once per file version).
    shards.verify_pages([catalog.paths.root / p for p in runs["shard_path"] if (catalog.paths.root / p).exists()])
    features = analysis.video_features(catalog, segments)
    table = clinical.merge(features, on="video_id", how="inner")
    versions = runs.set_index("video_id")["backend_version"]
    if "backend" in table:
        table.insert(table.columns.get_loc("backend") + 1, "backend_version", table["video_id"].map(versions))
    ids = table["video_id"].astype(str).tolist()
    # The statistics' store-state hash: a visit's run id names its video, extraction parameters and shard
    # (never rewritten); a new extraction is a new run. The feature values are not hashed: DuckDB's parallel
    # sums differ in the last bits from run to run.
    digest = analysis.store_inputs_hash(
        catalog, ids, clinical, [c for c in clinical.columns if c != "video_id"], segments
    )
    pairs = list(zip(table.get("backend", []), table.get("backend_version", []), strict=True))
    inside, scope_notes, detail = analysis.extraction_scope(catalog, ids, segments)
    scope = choice.segment_label or "whole videos"
    info = {
        "analysis": "per-video features",
        "method": provenance.features_method(),
        "backends": provenance.backends_text([(str(b), str(v)) for b, v in pairs]) if pairs else "none",
        "data_source": source,
        "segments": f"{scope} ({detail})" if inside else scope,
        "n_videos": len(table),
        "software": provenance.software_versions(("duckdb",)),
        "inputs_sha256": digest,
        "inputs": "store state: extraction runs, clinical values and segments used",
    }
    out = provenance.attach_feature_provenance(table.reset_index(drop=True), info)
    out.attrs["notes"] = notes + scope_notes
    return out


def features_command(
    source: str, segment_label: str | None = None, out: str = "per-video-features.csv", data_dir: Path | None = None
) -> str:
    """``python -m facs_core features --from-store ...`` writing :func:`features_export`'s table of every patient.

    ``data_dir`` is left out (the server's ``FACS_DATA_DIR``) unless given.
    """
    argv = ["python", "-m", "facs_core", *(["--data-dir", str(data_dir)] if data_dir is not None else [])]
    argv += ["features", "--from-store", "--source", source]
    if segment_label:
        argv += ["--segment-label", segment_label]
    return shlex.join([*argv, "--out", out])


def frames_export(catalog: Catalog, video_id: str, frames: pd.DataFrame) -> pd.DataFrame:
    """One visit's per-frame table as exported: ending with the same provenance columns as the features.

    ``frames`` is the per-frame table of the visit's newest run (as the page
    shows it). The input hash names the store state it came from: the
    visit and its extraction run (whose shard is never rewritten).
    """
    from facs_core.services import analysis
    from facs_core.stats import provenance

    runs = analysis.latest_runs(catalog).set_index("video_id")
    if video_id not in runs.index:
        raise InputError(f"video {video_id} has no finished extraction run")
    run = runs.loc[video_id]
    visit = pd.DataFrame({"video_id": [video_id]})
    info = {
        "analysis": "per-frame table",
        "method": f"per-frame output of the {run['backend']} backend, as stored (run {run['run_id']})",
        "backends": provenance.backends_text([(str(run["backend"]), str(run["backend_version"]))]),
        "data_source": "synthetic" if bool(run["synthetic"]) else "real",
        "segments": "whole video",
        "n_videos": 1,
        "software": provenance.software_versions(("duckdb",)),
        "inputs_sha256": analysis.store_inputs_hash(catalog, [video_id], visit, []),
        "inputs": "store state: the visit's extraction run",
    }
    return provenance.attach_feature_provenance(frames, info)
