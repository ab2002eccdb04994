"""What the catalog holds, as the pages and commands list it: plain tables, no analysis.

The views never write SQL; every read they show comes from here (or from the
other ``store`` modules and the services). Each function is one query over
the catalog or over Parquet shards, returning a DataFrame or plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from store.catalog import Catalog
from store.shards import parquet_list_sql

__all__ = [
    "VISIT_COLUMNS",
    "clinical_table",
    "count_synthetic",
    "done_backends",
    "latest_runs",
    "patient_codes",
    "playable_file",
    "queued_job_count",
    "read_frames",
    "schema_version",
    "state_stamp",
    "stored_video_ids",
    "video_list",
    "visits",
]

#: Columns of :func:`visits`.
VISIT_COLUMNS: tuple[str, ...] = (
    "video_id",
    "patient_id",
    "visit_date",
    "original_name",
    "synthetic",
    "stored_path",
    "playback_path",
    "duration_s",
    "fps",
    "container",
    "frame_count",
    "header_frame_count",
    "decode_errors",
    "bdi",
)


def _marks(values: Sequence) -> str:
    return ", ".join("?" for _ in values)


def state_stamp(catalog: Catalog) -> str:
    """A string that changes whenever runs, scores, covariates or segments change (a cache key)."""
    row = catalog.fetchone(
        "SELECT (SELECT count(*) || '/' || coalesce(max(finished_at)::VARCHAR, '') FROM runs WHERE status = 'done'),"
        " (SELECT count(*) || '/' || coalesce(max(created_at)::VARCHAR, '') FROM assessments),"
        " (SELECT count(*) FROM visit_covariates),"
        " (SELECT count(*) || '/' || coalesce(max(updated_at)::VARCHAR, '') FROM segments)"
    )
    return "|".join(str(v) for v in row)


def latest_runs(catalog: Catalog) -> pd.DataFrame:
    """The newest finished run of each video, with the video's frame rate.

    Columns ``video_id, run_id, backend, backend_version, shard_path, n_frames,
    fps, synthetic, patient_id``.
    """
    return catalog.query(
        "SELECT r.video_id, r.run_id, r.backend, r.backend_version, r.shard_path, r.n_frames,"
        " v.fps, v.synthetic, v.patient_id"
        " FROM runs r JOIN videos v USING (video_id) WHERE r.status = 'done' AND r.shard_path IS NOT NULL"
        " QUALIFY row_number() OVER (PARTITION BY r.video_id ORDER BY r.finished_at DESC, r.run_id) = 1"
        " ORDER BY r.video_id"
    )


def clinical_table(catalog: Catalog, instruments: Iterable[str]) -> pd.DataFrame:
    """One row per video with a patient: ``video_id, patient_id, visit_date, synthetic``,
    one column per instrument key (its score), and the covariates
    ``age, sex, camera, medication, repeat_visit``.

    ``instruments`` are the keys of the shipped reference table
    (identifiers, used as column names).
    """
    scores = ", ".join(f"max(a.score) FILTER (WHERE a.instrument = '{key}') AS {key}" for key in instruments)
    return catalog.query(
        f"SELECT v.video_id, v.patient_id, v.visit_date, v.synthetic, {scores},"
        " c.age, c.sex, v.camera, c.medication, c.repeat_visit"
        " FROM videos v LEFT JOIN assessments a USING (video_id) LEFT JOIN visit_covariates c USING (video_id)"
        " WHERE v.patient_id IS NOT NULL"
        " GROUP BY ALL ORDER BY v.patient_id, v.visit_date"
    )


def read_frames(catalog: Catalog, files: Sequence[Path]) -> pd.DataFrame:
    """The per-frame rows of the Parquet shards ``files``, by frame."""
    return catalog.query(f"SELECT * FROM {parquet_list_sql(files)} ORDER BY frame")


def visits(catalog: Catalog, patient_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Videos (of ``patient_ids``, or all) with their patient, visit date and BDI score.

    Columns :data:`VISIT_COLUMNS`, by patient and visit date.
    """
    where = ""
    params: list = []
    if patient_ids is not None:
        if not patient_ids:
            return pd.DataFrame(columns=list(VISIT_COLUMNS))
        where = f"WHERE v.patient_id IN ({_marks(patient_ids)})"
        params = list(patient_ids)
    return catalog.query(
        "SELECT v.video_id, v.patient_id, v.visit_date, v.original_name, v.synthetic, v.stored_path,"
        " v.playback_path, v.duration_s, v.fps, v.container, v.frame_count, v.header_frame_count, v.decode_errors,"
        " a.score AS bdi"
        " FROM videos v LEFT JOIN assessments a ON a.video_id = v.video_id AND a.instrument = 'bdi'"
        f" {where} ORDER BY v.patient_id, v.visit_date",
        params,
    )


def count_synthetic(catalog: Catalog, video_ids: Sequence[str]) -> int:
    """How many of ``video_ids`` are synthetic demo data."""
    ids = [str(v) for v in video_ids]
    if not ids:
        return 0
    return int(catalog.scalar(f"SELECT count(*) FROM videos WHERE synthetic AND video_id IN ({_marks(ids)})", ids))


def done_backends(catalog: Catalog, video_ids: Sequence[str]) -> list[str]:
    """The backends of the finished runs of ``video_ids`` (each once)."""
    ids = [str(v) for v in video_ids]
    if not ids:
        return []
    sql = f"SELECT DISTINCT backend FROM runs WHERE status = 'done' AND video_id IN ({_marks(ids)})"
    return catalog.query(sql, ids)["backend"].tolist()


def patient_codes(catalog: Catalog, *, synthetic: bool | None = None) -> list[str]:
    """Every patient code, sorted; only the synthetic (or only the real) ones when ``synthetic`` is given."""
    if synthetic is None:
        return catalog.query("SELECT patient_id FROM patients ORDER BY patient_id")["patient_id"].tolist()
    sql = "SELECT patient_id FROM patients WHERE synthetic = ? ORDER BY patient_id"
    return catalog.query(sql, [bool(synthetic)])["patient_id"].tolist()


def stored_video_ids(catalog: Catalog) -> list[str]:
    """Ids of the videos whose file is stored (not the file-less synthetic visits)."""
    return catalog.query("SELECT video_id FROM videos WHERE stored_path IS NOT NULL")["video_id"].tolist()


def video_list(catalog: Catalog, patient_id: str | None = None) -> pd.DataFrame:
    """The videos (of one patient, or all) as ``python -m facs_core videos list`` shows them."""
    sql = (
        "SELECT video_id, patient_id, visit_date, container, codec, frame_count, header_frame_count,"
        " decode_errors, fps, duration_s, width, height, playback_path, synthetic FROM videos"
    )
    params: list[str] = []
    if patient_id:
        sql += " WHERE patient_id = ?"
        params.append(patient_id)
    return catalog.query(sql + " ORDER BY patient_id, visit_date, video_id", params)


def playable_file(catalog: Catalog, video_id: str) -> dict[str, str | None] | None:
    """``{"patient_id", "path"}`` of the file a browser plays (path relative to the data folder), or None.

    None when there is no such video. The path is the browser playback copy
    when there is one, else the stored file; None when the video has no file.
    """
    row = catalog.fetchrow(
        "SELECT patient_id, coalesce(playback_path, stored_path) AS path FROM videos WHERE video_id = ?", [video_id]
    )
    return row


def queued_job_count(catalog: Catalog) -> int:
    """Jobs of any kind waiting to be picked up."""
    return int(catalog.scalar("SELECT count(*) FROM jobs WHERE status = 'queued'"))


def schema_version(catalog: Catalog) -> int | None:
    """The catalog's schema version (the newest migration applied)."""
    return catalog.scalar("SELECT max(version) FROM schema_version")
