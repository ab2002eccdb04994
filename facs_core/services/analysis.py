"""The analysis engine's inputs from the store, for the command line and the dashboard alike.

Both views ask this module for a statistic with the same parameters and get
the same table: ``python -m facs_core stats partial-corr --from-store``, ``stats
scalogram --from-store`` and the Cohort statistics, Significance map and
Patient profile pages all call :func:`cohort_statistics`,
:func:`significance_map` and :func:`patient_profile`. Which visits enter is
decided here, once, by a :class:`CohortChoice`: the data source (real /
synthetic / both; default real whenever the store holds a real visit) and a
segment label (only visits that have such a segment, analysed inside it). The
statistics themselves are the core's (:mod:`facs_core.stats.cohort`,
:mod:`facs_core.wavelets`, :mod:`facs_core.stats.profile`).

:func:`cohort_command` and :func:`map_command` write the command line that
reproduces a result, which the pages show under it.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from facs_core import wavelets
from facs_core.errors import InputError, NoDataError, TooFewVisitsError
from facs_core.reference import instruments
from facs_core.services import feature_cache, run_report, visibility
from facs_core.stats.cohort import (
    DATA_SOURCES,
    CohortParams,
    cohort_associations,
    default_source,
    select_source,
    too_few_text,
)
from facs_core.stats.profile import cohort_profile, measured_visits, reference_visits, require_reference
from facs_core.wavelets.association import AssociationParams, associate_scales
from facs_core.wording import Note, count, reader_notes, sentence
from store import Catalog, listings
from store.videos import get_video

__all__ = [
    "COVARIATES",
    "CohortChoice",
    "MapParams",
    "clinical_table",
    "cohort_command",
    "cohort_statistics",
    "cohort_visits",
    "extraction_scope",
    "latest_runs",
    "map_command",
    "operator_viewer",
    "patient_profile",
    "patient_visits",
    "periods_text",
    "profile_command",
    "rate_of",
    "significance_map",
    "store_inputs_hash",
    "video_features",
    "visit_scalogram",
    "warm_features",
    "without_inputs",
]

#: Covariates the catalog holds per visit, as the statistics engine names them.
COVARIATES: tuple[str, ...] = ("age", "sex", "camera", "medication", "repeat_visit")


@dataclass(frozen=True)
class CohortChoice:
    """Which visits a statistic uses.

    Attributes
    ----------
    source : {"real", "synthetic", "both"} or None
        None: ``"real"`` when the store holds a real visit, else ``"synthetic"``.
    segment_label : str or None
        Only visits with a segment of this label (as the viewer sees labels),
        analysed inside those segments; None: whole videos, every visit.
    """

    source: str | None = None
    segment_label: str | None = None


@dataclass(frozen=True)
class MapParams:
    """The significance map's transform: periods in seconds (rate-free) and the wavelet options.

    Defaults are the page's: :data:`facs_core.wavelets.DEFAULT_PERIODS`. With
    ``fps`` set the map is the command line's frames-at-one-rate map
    (``--fps F --scales S``): ``scales`` in frames at ``fps``, only the visits
    recorded at that rate (see :meth:`at_rate`); ``periods`` is then unused.
    """

    periods: tuple[float, ...] = wavelets.DEFAULT_PERIODS
    wavelet: str = wavelets.DEFAULT_WAVELET
    power: bool = False
    max_gap_s: float = wavelets.DEFAULT_MAX_GAP_S
    precision: int = wavelets.DEFAULT_PRECISION
    periods_spec: str = field(default="0.2-10", compare=False)
    period_count: int | None = field(default=100, compare=False)
    fps: float | None = None
    scales: tuple[float, ...] = ()
    scales_spec: str = field(default="1-100", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods", tuple(float(p) for p in np.ravel(self.periods)))
        object.__setattr__(self, "scales", tuple(float(s) for s in np.ravel(self.scales)))

    @classmethod
    def from_range(cls, low: float, high: float, count: int, **options: object) -> MapParams:
        """``count`` log-spaced periods from ``low`` to ``high`` s, as ``--periods LOW-HIGH --period-count N`` gives."""
        low_text, high_text = _exact(low), _exact(high)
        periods = wavelets.log_periods(float(low_text), float(high_text), int(count))
        return cls(periods=tuple(periods), periods_spec=f"{low_text}-{high_text}", period_count=int(count), **options)

    @classmethod
    def at_rate(cls, fps: float, scales: Sequence[float], scales_spec: str, **options: object) -> MapParams:
        """Scales in frames at one frame rate, as ``--fps FPS --scales SPEC`` gives (``scales`` parsed from SPEC)."""
        return cls(periods=(), fps=float(fps), scales=tuple(scales), scales_spec=scales_spec, **options)

    @property
    def by_rate(self) -> bool:
        """True for the frames-at-one-rate map (``--fps``/``--scales``)."""
        return self.fps is not None


def _exact(value: float) -> str:
    # The shortest text that reads back as the same float, so the command line gets the same periods.
    text = f"{float(value):g}"
    return text if float(text) == float(value) else repr(float(value))


def operator_viewer() -> visibility.Viewer:
    """What the command line sees: every patient, every column, labels as written."""
    return visibility.Viewer(username="cli", role="operator", patients=None, hidden=frozenset())


# -- reading the store ---------------------------------------------------------


def latest_runs(store: Catalog) -> pd.DataFrame:
    """The newest finished run of each video, with the video's frame rate.

    Columns ``video_id, run_id, backend, backend_version, shard_path, n_frames,
    fps, synthetic, patient_id``.
    """
    return listings.latest_runs(store)


def clinical_table(store: Catalog) -> pd.DataFrame:
    """One row per video: ``video_id, patient_id, visit_date, synthetic``, each instrument, the covariates."""
    table = listings.clinical_table(store, [i.key for i in instruments()])
    table["repeat_visit"] = table["repeat_visit"].astype("boolean")
    return table


def _shards(store: Catalog, runs: pd.DataFrame) -> pd.DataFrame:
    paths = runs["shard_path"].map(lambda p: store.paths.root / p)
    return runs.assign(shard=paths)[paths.map(Path.exists).to_numpy()]


def _spans(store: Catalog, viewer: visibility.Viewer, label: str) -> pd.DataFrame:
    if label == visibility.OTHER_LABEL and viewer.reads_labels:
        # "other" is what a viewer who does not read free text sees for every non-preset label;
        # the command line reproduces that view.
        viewer = visibility.Viewer(viewer.username, viewer.role, viewer.patients, viewer.hidden | {"label"})
    return visibility.segment_spans(store, viewer, label)


@contextlib.contextmanager
def _explained_by(notes: list[str], score: str, covariates: Sequence[str]) -> Iterator[None]:
    """Append what the cohort choice left out to a refusal, so a small n explains itself.

    The message (the command line's line) gains the notes in parentheses; a
    :class:`~facs_core.errors.NoDataError` also gets its ``reader`` text, the
    same facts as sentences with the score and covariates named as a reader
    does, which a page shows instead.
    """
    try:
        yield
    except NoDataError as exc:
        if isinstance(exc, TooFewVisitsError):
            first = too_few_text(exc.n, exc.needed, score, covariates)
        else:
            first = exc.reader or sentence(str(exc)) + "."
        exc.reader = " ".join([first, *reader_notes(notes)])
        if notes:
            exc.args = (f"{exc} ({'; '.join(notes)})",)
        raise exc from None
    except InputError as exc:
        if not notes:
            raise
        # The same exception, message extended.
        exc.args = (f"{exc} ({'; '.join(notes)})",)
        raise exc from None


def cohort_visits(
    store: Catalog, viewer: visibility.Viewer, choice: CohortChoice
) -> tuple[pd.DataFrame, pd.DataFrame | None, str, list[str]]:
    """The clinical rows of the chosen visits, their segments, the data source, and what was left out.

    Returns ``(clinical, segments, source, notes)``: ``segments`` is None for
    whole videos, else ``video_id, start_s, end_s`` of the chosen label.
    """
    # Only the visits the viewer may see, before anything is counted: a note on visits left out must not
    # count other patients' visits for a clinician.
    clinical = clinical_table(store)
    if viewer.patients is not None:
        clinical = clinical[clinical["patient_id"].astype(str).isin(viewer.patients)].reset_index(drop=True)
    source = choice.source or default_source(clinical)
    clinical, notes = select_source(clinical, source)
    segments = None
    if choice.segment_label:
        segments = _spans(store, viewer, choice.segment_label)
        having = clinical["video_id"].isin(set(segments["video_id"]))
        if not having.any():
            # An ordinary state (the label exists elsewhere, e.g. only on the other data source): explained.
            raise NoDataError(
                f"no visit has a segment labelled {choice.segment_label!r}",
                reader=f"No visit ({DATA_SOURCES[source]}) has a segment labelled \u201c{choice.segment_label}\u201d:"
                " choose another label under Frames analysed, or another data source.",
            )
        left = int((~having).sum())
        if left:
            notes.append(
                Note(
                    f"{count(left, 'visit')} left out: no segment labelled {choice.segment_label!r}",
                    f"{count(left, 'visit')} left out: {'it has' if left == 1 else 'they have'} no segment labelled"
                    f" \u201c{choice.segment_label}\u201d.",
                )
            )
        clinical = clinical[having.to_numpy()]
        segments = segments[segments["video_id"].isin(set(clinical["video_id"]))].reset_index(drop=True)
    return clinical, segments, source, notes


def video_features(
    store: Catalog, segments: pd.DataFrame | None = None, video_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-video AU (and emotion) features of each video's newest run, inside ``segments`` when given.

    ``video_ids`` limits the table to those videos (a patient's own visits).
    """
    from facs_core import features

    runs = _shards(store, latest_runs(store))
    if video_ids is not None:
        runs = runs[runs["video_id"].isin(list(video_ids))]
    if segments is not None:
        runs = runs[runs["video_id"].isin(set(segments["video_id"]))]
    if runs.empty:
        return pd.DataFrame(columns=["video_id"])
    table = features.features_from_shards(list(runs["shard"]), segments)
    # A run restricted to segments stored only their frames: the features say so, whatever was asked here.
    table = features.with_extraction_scope(table, run_report.run_extents(store, list(runs["run_id"])), segments)
    # Which backend measured each video travels with its features (exports, labels).
    table.insert(1, "backend", table["video_id"].map(runs.set_index("video_id")["backend"]))
    return table


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _covers(used: Sequence[tuple[float, float]], wanted: pd.DataFrame, tolerance_s: float = 1e-6) -> bool:
    merged: list[list[float]] = []
    for start, end in sorted(used):
        if merged and start <= merged[-1][1] + tolerance_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return all(
        any(s <= a + tolerance_s and b <= e + tolerance_s for s, e in merged)
        for a, b in zip(wanted["start_s"], wanted["end_s"], strict=True)
    )


def extraction_scope(
    store: Catalog, video_ids: Sequence[str], segments: pd.DataFrame | None = None
) -> tuple[int, list[str], str]:
    """How many of the analysed visits' extractions covered less than the analysis asked for, and how to say it.

    A run queued while its video had segments stored only the frames inside
    them. Analysing "whole videos", such a visit contributes those frames
    only; analysing a segment label, it lacks the frames of that label's
    segments that lie outside the run's. Such visits stay in the analysis
    (their frames are real measurements), and the result says how many.

    Returns
    -------
    n, notes, detail
        The number of such visits among ``video_ids``, the note for
        ``attrs["notes"]`` and the detail the provenance's segment scope
        adds ("1 of 5 visits extracted inside segments only"); both empty
        when none.
    """
    ids = sorted({str(v) for v in video_ids})
    runs = latest_runs(store)
    runs = runs[runs["video_id"].isin(ids)]
    extents = run_report.run_extents(store, list(runs["run_id"]))
    restricted = extents[extents["run_segments"] > 0]
    if segments is None:
        short = restricted["video_id"].tolist()
    else:
        short = [
            row.video_id
            for row in restricted.itertuples(index=False)
            if not _covers(row.spans, segments[segments["video_id"] == row.video_id])
        ]
    n, total = len(short), len(ids)
    if not n:
        return 0, [], ""
    counted = f"{n} of {count(total, 'visit')}"
    were, their = _plural(n, "was", "were"), _plural(n, "its", "their")
    if segments is None:
        note = (
            f"{counted} {were} extracted inside {their} marked segments only: {their} features cover the frames"
            " inside those segments, not the whole recording"
        )
        detail = f"{counted} extracted inside segments only"
    else:
        note = (
            f"{counted} {were} extracted inside other segments only: frames of the chosen segments outside"
            f" {their} extraction are missing"
        )
        detail = f"{counted} extracted inside other segments only"
    return n, [note], detail


def _state_scope(result: pd.DataFrame, store: Catalog, choice: CohortChoice, segments, notes: list[str]) -> None:
    """The result's segment scope, in its notes, provenance and ``segments`` column."""
    n, scope_notes, detail = extraction_scope(store, result.attrs.get("video_ids", []), segments)
    result.attrs["notes"] = notes + scope_notes + list(result.attrs.get("notes", []))
    label = choice.segment_label or "whole videos"
    if n:
        label = f"{label} ({detail})"
    result.attrs["provenance"]["segments"] = label
    result.attrs["provenance"]["visits_extracted_inside_segments"] = n
    result["segments"] = label


def store_inputs_hash(
    store: Catalog, video_ids: Sequence[str], clinical: pd.DataFrame, columns: Sequence[str], segments=None
) -> str:
    """SHA-256 (hex, first 16) of the store state a result was computed from.

    The extraction run of each analysed visit (its run id names the video's
    bytes and the extraction parameters; its shard never changes), the
    clinical values used (``columns``) and the segments: the same store state
    gives the same hash in the dashboard and on the command line, bit for bit,
    whatever order a parallel sum took.
    """
    import hashlib

    ids = sorted(str(v) for v in video_ids)
    runs = latest_runs(store).set_index("video_id")
    digest = hashlib.sha256()
    for video_id in ids:
        digest.update(f"{video_id}\x1f{runs['run_id'].get(video_id, '')}\x1e".encode())
    rows = clinical.set_index(clinical["video_id"].astype(str)).reindex(ids)
    digest.update(rows[list(columns)].to_csv(index=True, lineterminator="\n").encode())
    if segments is not None:
        spans = segments[segments["video_id"].isin(ids)].sort_values(["video_id", "start_s"])
        digest.update(spans[["video_id", "start_s", "end_s"]].to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()[:16]


def _stamp(result: pd.DataFrame, digest: str) -> None:
    result["inputs_sha256"] = digest
    result.attrs["provenance"]["inputs_sha256"] = digest
    result.attrs["provenance"]["inputs"] = "store state: extraction runs, clinical values and segments used"


def _extracted_only(clinical: pd.DataFrame, extracted: pd.Series, notes: list[str]) -> pd.DataFrame:
    """The clinical rows of the extracted visits; how many were not extracted is added to ``notes``, as a count.

    Left to the statistics, the visits without features would be listed by
    their video ids, which a page must not show.
    """
    have = clinical["video_id"].isin(set(extracted))
    missing = int((~have).sum())
    if missing:
        notes.append(f"{count(missing, 'visit')} left out: not extracted yet")
    return clinical[have.to_numpy()]


# -- the three analyses --------------------------------------------------------


def cohort_statistics(
    store: Catalog, viewer: visibility.Viewer, params: CohortParams, choice: CohortChoice = CohortChoice()
) -> pd.DataFrame:
    """The cohort table (:func:`facs_core.stats.cohort.cohort_associations`) of the chosen visits.

    ``attrs["notes"]`` starts with the visits the choice left out;
    ``attrs["features"]`` holds the per-video features analysed (for the
    partial-residual plot).
    """
    clinical, segments, source, notes = cohort_visits(store, viewer, choice)
    features = video_features(store, segments)
    features = features[features["video_id"].isin(set(clinical["video_id"]))]
    if features.empty:
        raise NoDataError("no extracted visit among the chosen visits")
    clinical = _extracted_only(clinical, features["video_id"], notes)
    with _explained_by(notes, params.score, params.covariates):
        result = cohort_associations(features, clinical, params, data_source=source)
    used = [params.score, *params.covariates]
    _stamp(result, store_inputs_hash(store, result.attrs["video_ids"], clinical, used, segments))
    _state_scope(result, store, choice, segments, notes)
    _label_backends(store, result, features)
    # The optional second analyses (mixed_*, perm_*) come last, after provenance and backends, as in RESULT.csv.
    for column in [c for c in result.columns if c.startswith(("mixed_", "perm_"))]:
        result[column] = result.pop(column)
    result.attrs["features"] = features
    result.attrs["clinical"] = clinical
    return result


def _label_backends(store: Catalog, result: pd.DataFrame, features: pd.DataFrame) -> None:
    """Each row's ``backends``: the backends and versions that measured its feature (emotions: py-feat only)."""
    from facs_core.stats.provenance import backends_text, measured_by

    runs = latest_runs(store).set_index("video_id")
    pairs = {str(v): (str(r.backend), str(r.backend_version)) for v, r in runs.iterrows()}
    analysed = result.attrs.get("video_ids", [])
    result["backends"] = measured_by(features, list(result["feature"]), analysed, pairs)
    result.attrs["provenance"]["backends"] = backends_text([pairs.get(str(v), ("", "")) for v in analysed])


def _period_parts(store: Catalog, runs: pd.DataFrame, params: MapParams, segments: pd.DataFrame | None):
    parts = []
    aus: list[str] = []
    for row in runs.itertuples(index=False):
        fps, frames = feature_cache.cached_sampling_rate(store.paths, row.shard, row.video_id, float(row.fps))
        scales, resolved = wavelets.period_scales(params.periods, fps, params.wavelet, params.precision)
        features = None
        if resolved.any():
            wavelet_params = feature_cache.WaveletParams(
                scales=tuple(scales),
                wavelet=params.wavelet,
                power=params.power,
                max_gap_s=params.max_gap_s,
                precision=params.precision,
            )
            spans = None if segments is None else segments[segments["video_id"] == row.video_id]
            features = feature_cache.cached_wavelet_features(
                store.paths,
                row.shard,
                row.video_id,
                fps,
                wavelet_params,
                segments=spans,
                require_values=False,
                frames=frames,
            )
            aus += [a for a in features.aus if a not in aus]
        parts.append((row.video_id, fps, features))
    return parts, aus


def rate_of(fps: float) -> float:
    """A frame rate as the frames-at-one-rate map groups visits by it (to the thousandth, 23.976 for 24000/1001)."""
    return round(float(fps), 3)


def _at_rate(runs: pd.DataFrame, fps: float) -> tuple[pd.DataFrame, list[str]]:
    """The runs recorded at ``fps`` (:func:`rate_of`), and a note on the visits at other rates."""
    rates = runs["fps"].astype(float).map(rate_of)
    here = rates == rate_of(fps)
    others = rates[~here].value_counts().sort_index()
    mix = ", ".join(f"{n} at {r:g} fps" for r, n in others.items())
    if not here.any():
        raise InputError(
            f"no chosen visit is recorded at {fps:g} fps (they are: {mix}); give one of those rates,"
            " or --periods to analyse every frame rate together"
        )
    notes = []
    if len(others):
        notes.append(
            f"{count(int(others.sum()), 'visit')} left out: recorded at another frame rate ({mix}); scales count frames"
            f" at {fps:g} fps (periods in seconds analyse every frame rate together)"
        )
    return runs[here.to_numpy()], notes


def _scale_features(
    store: Catalog, runs: pd.DataFrame, params: MapParams, segments: pd.DataFrame | None
) -> wavelets.WaveletFeatures:
    """Per-video features at ``params.scales`` frames, ``params.fps`` for every video, stacked by AU."""
    transform = feature_cache.WaveletParams(
        scales=params.scales,
        wavelet=params.wavelet,
        power=params.power,
        max_gap_s=params.max_gap_s,
        precision=params.precision,
    )
    parts = []
    for row in runs.itertuples(index=False):
        spans = None if segments is None else segments[segments["video_id"] == row.video_id]
        parts.append(
            feature_cache.cached_wavelet_features(
                store.paths, row.shard, row.video_id, params.fps, transform, segments=spans, require_values=False
            )
        )
    found = [a for part in parts for a in part.aus]
    aus = [a for a in _au_order() if a in found] + [a for a in dict.fromkeys(found) if a not in _au_order()]
    shape = (len(parts), len(aus), len(params.scales))
    values, used, valid = np.full(shape, np.nan), np.zeros(shape, dtype=np.int64), np.zeros(shape[:2], dtype=np.int64)
    for v, part in enumerate(parts):
        for a, au in enumerate(aus):
            if au in part.aus:
                i = part.aus.index(au)
                values[v, a], used[v, a] = part.values[0, i], part.frames_used[0, i]
                valid[v, a] = part.frames_valid[0, i]
    return wavelets.WaveletFeatures(
        values=values,
        frames_used=used,
        frames_valid=valid,
        video_ids=[str(v) for v in runs["video_id"]],
        aus=aus,
        scales=parts[0].scales.reset_index(drop=True),
        wavelet=params.wavelet,
        power=params.power,
    )


def significance_map(
    store: Catalog,
    viewer: visibility.Viewer,
    association: AssociationParams,
    params: MapParams = MapParams(),
    choice: CohortChoice = CohortChoice(),
) -> pd.DataFrame:
    """The AU x period map (:func:`facs_core.wavelets.associate_scales`) of the chosen visits.

    Every video is transformed at its own frame rate (periods in seconds), or,
    with ``params.fps`` (:meth:`MapParams.at_rate`), the visits recorded at
    that rate at ``params.scales`` frames, the others left out with a note;
    its features come from the per-video disk cache
    (:mod:`facs_core.services.feature_cache`) when computed before.
    """
    clinical, segments, source, notes = cohort_visits(store, viewer, choice)
    runs = _shards(store, latest_runs(store))
    runs = runs[runs["video_id"].isin(set(clinical["video_id"]))]
    if runs.empty:
        raise InputError("no extracted visit among the chosen visits")
    clinical = _extracted_only(clinical, runs["video_id"], notes)
    if params.by_rate:
        at_rate, left = _at_rate(runs, params.fps)
        notes = notes + left
        # The visits at other rates are left out here, with the note above: the statistics are not
        # to report them again as clinical rows without features.
        clinical = clinical[~clinical["video_id"].isin(set(runs["video_id"]) - set(at_rate["video_id"]))]
        runs = at_rate
        features = _scale_features(store, runs, params, segments)
    else:
        parts, aus = _period_parts(store, runs, params, segments)
        ordered = [a for a in _au_order() if a in aus] + [a for a in aus if a not in _au_order()]
        features = wavelets.combine_periods(
            parts, params.periods, ordered, params.wavelet, params.power, params.precision
        )
    if np.isnan(features.values).all():
        raise InputError(
            "no AU series is long enough for any period: every AU is missing, shorter than the wavelet support"
            " or sampled too slowly"
        )
    with _explained_by(notes, association.score, association.covariates):
        result = associate_scales(features, clinical.drop(columns=["visit_date", "synthetic"]), association, source)
    used = [association.score, *association.covariates]
    _stamp(result, store_inputs_hash(store, result.attrs["video_ids"], clinical, used, segments))
    _state_scope(result, store, choice, segments, notes)
    rates = runs.set_index("video_id")["fps"]
    result.attrs["rates"] = rates[rates.index.isin(result.attrs.get("video_ids", []))].round(3).value_counts()
    result.attrs["features"] = features
    result.attrs["clinical"] = clinical
    return result


def _au_order() -> list[str]:
    """The study's AUs in the reference table's order."""
    from facs_core.reference import action_units

    return list(action_units())


def patient_visits(store: Catalog, patient_id: str) -> list[str]:
    """The patient's visits, oldest first (the order the Patient profile page lists them)."""
    clinical = clinical_table(store)
    visits = clinical.loc[clinical["patient_id"] == patient_id].sort_values("visit_date", kind="stable")
    if visits.empty:
        raise InputError(f"no visit of patient {patient_id}")
    return visits["video_id"].tolist()


def patient_profile(
    store: Catalog,
    video_ids: Sequence[str],
    mode: str,
    measures: str = "aus",
    source: str | None = None,
    known_patients: Collection[str] | None = None,
) -> pd.DataFrame:
    """The visits' AU (or emotion) means against the reference cohort of ``source``.

    The reference is every extracted visit of the data source (default real
    whenever the store has a real visit, as for every statistic) of every
    other patient: the visits' own patients are left out
    (:func:`facs_core.stats.profile.reference_visits`); the visits themselves
    are placed whatever their source. A reference of too few patients is
    refused (:func:`facs_core.stats.profile.require_reference`), and so is
    one with 1 to 4 real patients outside ``known_patients`` (the patients the
    reader may open, when given: a page passes its user's).
    ``video_id, AU, mean, value`` then provenance columns ``mode, measures,
    data_source, n_reference, software, inputs_sha256``; ``attrs``:
    ``n_reference``, ``n_reference_patients``, ``synthetic_share`` (of the
    extracted reference visits), ``reference_backends`` (the share of the
    reference visits with values that each backend measured, largest first),
    ``source``, ``provenance`` and ``features`` (every visit's features).

    Raises
    ------
    TooFewVisitsError
        The reference holds fewer than ``MIN_REFERENCE_PATIENTS`` other patients with values.
    """
    from facs_core.stats.provenance import software_versions

    clinical = clinical_table(store)
    source = source or default_source(clinical)
    reference = reference_visits(clinical, list(video_ids), source)
    features = video_features(store)
    require_reference(features, reference, measures, source, known_patients)
    reference_ids = list(reference["video_id"])
    table = cohort_profile(features, list(video_ids), mode, measures, reference=reference_ids)
    n_reference = int(table.attrs.get("n_reference", 0))
    extracted = reference[reference["video_id"].isin(set(features.get("video_id", []))).to_numpy()]
    measured = extracted["video_id"].isin(measured_visits(features, reference_ids, measures)).to_numpy()
    info = {
        "analysis": "patient profile",
        "mode": mode,
        "measures": measures,
        "data_source": source,
        "n_reference": n_reference,
        "software": software_versions(),
        "inputs_sha256": store_inputs_hash(store, sorted({*extracted["video_id"], *video_ids}), clinical, []),
        "inputs": "store state: extraction runs of the reference and the patient's visits",
    }
    for key in ("mode", "measures", "data_source", "n_reference", "software", "inputs_sha256"):
        table[key] = info[key]
    measured_ids = set(extracted.loc[measured, "video_id"])
    backends = features.loc[features["video_id"].isin(measured_ids)].drop_duplicates("video_id").get("backend")
    table.attrs = {
        "n_reference": n_reference,
        "n_reference_patients": int(extracted.loc[measured, "patient_id"].nunique()),
        "synthetic_share": float(extracted["synthetic"].fillna(False).astype(bool).mean()) if len(extracted) else 0.0,
        "reference_backends": {} if backends is None else backends.value_counts(normalize=True).to_dict(),
        "source": source,
        "provenance": info,
        "features": features,
    }
    return table


def visit_scalogram(
    store: Catalog, frames: pd.DataFrame, video_id: str, au: str, segment: tuple[float, float] | None = None
) -> wavelets.Scalogram:
    """The scalogram of one AU of a visit (inside ``segment``), at the rate its frames were sampled at.

    The rate is read from the frames' timestamps, the catalogued frame rate
    where they agree or cannot tell (:func:`facs_core.series.sampling_rate`).
    Only scales that rate resolves are drawn (period at least two frames).
    """
    from facs_core.series import sampling_rate

    fps = sampling_rate(frames, fallback=float(get_video(store, video_id)["fps"]))
    # Periods below two frames are aliased at this rate: the maps leave them out, and so does the image.
    resolved = ~wavelets.scale_table(fps)["above_nyquist"].to_numpy(dtype=bool)
    scales = np.asarray(wavelets.DEFAULT_SCALES, dtype=float)[resolved]
    return wavelets.scalogram(frames, video_id, au, fps, scales=scales, segment=segment)


# -- the command line that reproduces a result -----------------------------------


def _prefix(data_dir: Path | None) -> list[str]:
    return ["python", "-m", "facs_core", *(["--data-dir", str(data_dir)] if data_dir is not None else [])]


def cohort_command(
    params: CohortParams, choice: CohortChoice, source: str, out: str, data_dir: Path | None = None
) -> str:
    """``python -m facs_core stats partial-corr --from-store ...`` giving ``params``' table of ``choice``'s visits.

    ``data_dir`` is left out (the server's ``FACS_DATA_DIR``) unless given.
    """
    argv = [
        *_prefix(data_dir),
        "stats",
        "partial-corr",
        "--from-store",
        "--score",
        params.score,
        "--covariates",
        ",".join(params.covariates),
        "--method",
        params.method,
        "--fdr",
        params.correction,
        "--alpha",
        _exact(params.alpha),
        "--feature",
        params.feature or "mean",
        "--source",
        source,
    ]
    if choice.segment_label:
        argv += ["--segment-label", choice.segment_label]
    if params.mixed_model:
        argv.append("--mixed-model")
    if params.method == "permutation" or params.permutation_columns:
        argv += ["--permutations", str(params.permutations), "--seed", str(params.seed)]
    return shlex.join([*argv, "--out", out])


def profile_command(
    patient_id: str, mode: str, measures: str, source: str, out: str, data_dir: Path | None = None
) -> str:
    """``python -m facs_core stats profile --from-store --patient ...`` giving the patient's profile table."""
    argv = [
        *_prefix(data_dir),
        "stats",
        "profile",
        "--from-store",
        "--patient",
        patient_id,
        "--mode",
        mode,
        "--measures",
        measures,
        "--source",
        source,
    ]
    return shlex.join([*argv, "--out", out])


def periods_text(params: MapParams) -> list[str]:
    """The ``--periods`` (and ``--period-count``) arguments of ``params``."""
    spec = ["--periods", params.periods_spec]
    return spec + (["--period-count", str(params.period_count)] if params.period_count else [])


def map_command(
    association: AssociationParams,
    params: MapParams,
    choice: CohortChoice,
    source: str,
    out: str,
    data_dir: Path | None = None,
) -> str:
    """``python -m facs_core stats scalogram --from-store ...`` giving the map of ``choice``'s visits."""
    argv = [
        *_prefix(data_dir),
        "stats",
        "scalogram",
        "--from-store",
        "--score",
        association.score,
        "--covariates",
        ",".join(association.covariates),
        *(["--fps", _exact(params.fps), "--scales", params.scales_spec] if params.by_rate else periods_text(params)),
        "--wavelet",
        params.wavelet,
        "--method",
        association.method,
        "--fdr",
        association.fdr,
        "--fdr-scope",
        association.fdr_scope,
        "--alpha",
        _exact(association.alpha),
        "--max-gap",
        _exact(params.max_gap_s),
        "--source",
        source,
    ]
    if params.power:
        argv.append("--power")
    if choice.segment_label:
        argv += ["--segment-label", choice.segment_label]
    return shlex.join([*argv, "--out", out])


def without_inputs(result: pd.DataFrame) -> pd.DataFrame:
    """A copy of a result for export and session state: its provenance and notes, not the inputs it carries.

    A Parquet file written from it carries the provenance block in its
    metadata (pandas stores ``attrs``); the CSV carries the provenance columns.
    """
    table = result.copy()
    table.attrs = {k: v for k, v in result.attrs.items() if k in ("provenance", "notes", "n_videos", "video_ids")}
    return table


def warm_features(store: Catalog) -> int:
    """Fill the per-video feature cache at the map's default periods for every extracted video.

    Returns how many videos were computed or read; run by the dashboard's
    background thread so the Significance map never pays for a new video.
    """
    runs = _shards(store, latest_runs(store))
    for row in runs.itertuples(index=False):
        feature_cache.precompute(store.paths, row.shard, row.video_id, float(row.fps))
    return len(runs)
