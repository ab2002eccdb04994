"""Take an interview video into the store: probe, de-duplicate, catalogue.

Order matters for "nothing stored on bad input": the file is probed and every
clinical value is validated before anything is written. The file is then put
in place by content hash (:func:`store.videos.store_video_file`), and only
then are the patient, video, covariate, score and audit rows committed, all in
one transaction. A failure or a SIGKILL at any point leaves either no row of
the visit or all of them (at worst an unreferenced stored file, which the next
upload of the same content reuses). Uploading the same content twice returns
the existing record and changes nothing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from facs_core.errors import InputError
from facs_core.probe import probe_video
from facs_core.reference import instrument_for_column, instruments
from facs_core.services import access
from facs_core.services.access import User
from store import audit
from store.assessments import add_scores, set_covariates
from store.catalog import Catalog
from store.crashpoints import crash_point
from store.users import assign_patient
from store.videos import add_video, check_patient_code, sha256_file

Progress = Callable[[float, str], None]

_SEX_CODES = {"f": "female", "female": "female", "m": "male", "male": "male", "other": "other", "diverse": "other"}
_MAX_AGE = 120.0


def check_scores(scores: Mapping[str, float] | None) -> dict[str, float]:
    """Instrument key -> score, validated against each instrument's range.

    Parameters
    ----------
    scores : mapping
        Column-style names (``"bdi"``, ``"BDI-II"``, ``"phq9"``) to total scores.

    Raises
    ------
    InputError
        Unknown instrument, a non-numeric score, a score outside the
        instrument's range, or the same instrument given twice.
    """
    checked: dict[str, float] = {}
    for name, raw in (scores or {}).items():
        instrument = instrument_for_column(str(name))
        if instrument is None:
            known = ", ".join(i.key for i in instruments())
            raise InputError(f"score {name!r}: unknown instrument (known: {known})")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InputError(f"score {instrument.key}: {raw!r} is not a number") from None
        if not math.isfinite(value) or not instrument.min <= value <= instrument.max:
            raise InputError(
                f"score {instrument.key}: {raw!r} is outside the {instrument.label} range"
                f" {instrument.min:g}-{instrument.max:g}"
            )
        if instrument.key in checked:
            raise InputError(f"score {instrument.key}: given twice")
        checked[instrument.key] = value
    return checked


def check_sex(sex: str | None) -> str | None:
    """``female``, ``male`` or ``other`` (``f``/``m`` accepted), or None."""
    if sex is None or not str(sex).strip():
        return None
    code = _SEX_CODES.get(str(sex).strip().lower())
    if code is None:
        raise InputError(f"sex {sex!r}: use female, male or other")
    return code


def check_age(age: float | None) -> float | None:
    """Age at the visit in years, 0-120, or None."""
    if age is None:
        return None
    try:
        value = float(age)
    except (TypeError, ValueError):
        raise InputError(f"age {age!r} is not a number") from None
    if not math.isfinite(value) or not 0 <= value <= _MAX_AGE:
        raise InputError(f"age {age!r} is outside 0-{_MAX_AGE:g} years")
    return value


#: Earliest visit or recording date accepted (no video interview predates it).
EARLIEST_DATE = date(1900, 1, 1)


def check_date(label: str, value: date | None) -> date | None:
    """A visit or recording date: a real date, not in the future and not before 1900, or None."""
    if value is None:
        return None
    if not isinstance(value, date):
        raise InputError(f"{label} {value!r} is not a date (use YYYY-MM-DD)")
    if isinstance(value, datetime):
        value = value.date()
    if value > date.today():
        raise InputError(f"{label} {value.isoformat()} is in the future")
    if value < EARLIEST_DATE:
        raise InputError(f"{label} {value.isoformat()} is before {EARLIEST_DATE.year}")
    return value


def check_visit_date(value: date | None, field: str = "visit date") -> date:
    """The date of a new visit, required: a visit has a date, and whether it repeats an earlier one depends on it.

    The upload form and ``videos add`` check it before anything is stored
    (``field`` names the input in the message: ``--visit-date`` on the command
    line). Visits stored earlier without a date keep none.
    """
    if value is None:
        raise InputError(f"{field} is required: the date of the visit (YYYY-MM-DD); repeat visits are derived from it")
    return check_date("visit date", value)


def derive_repeat_visit(catalog: Catalog, patient_id: str, visit_date: date | None, video_id: str) -> bool:
    """Whether this visit follows an earlier one of the same patient.

    With a visit date, a repeat visit is one with an earlier-dated visit of the
    patient; without one, any other visit of the patient already stored counts.
    """
    if visit_date is None:
        earlier = catalog.scalar(
            "SELECT count(*) FROM videos WHERE patient_id = ? AND video_id <> ?", [patient_id, video_id]
        )
    else:
        earlier = catalog.scalar(
            "SELECT count(*) FROM videos WHERE patient_id = ? AND video_id <> ? AND visit_date < ?",
            [patient_id, video_id, visit_date],
        )
    return bool(earlier)


def _hash_with_progress(path: Path, progress: Progress | None) -> str:
    if progress is not None:
        progress(0.0, "hashing")
    digest = sha256_file(path)
    if progress is not None:
        progress(0.3, "hashed")
    return digest


def ingest_video(
    catalog: Catalog,
    path: str | os.PathLike[str],
    *,
    original_name: str,
    patient_id: str,
    visit_date: date | None = None,
    camera: str | None = None,
    recording_date: date | None = None,
    age: float | None = None,
    sex: str | None = None,
    medication: str | None = None,
    scores: dict[str, float] | None = None,
    repeat_visit: bool | None = None,
    user: User,
    progress: Progress | None = None,
    synthetic: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Probe, store and catalogue one interview video.

    Parameters
    ----------
    catalog : Catalog
        The open store.
    path : path
        The uploaded file (a temporary upload or a file on disk); it is copied.
    original_name : str
        The name the user knows the file by: metadata and messages only.
    patient_id : str
        Pseudonymous patient code (see :func:`store.videos.check_patient_code`).
    visit_date, recording_date : date, optional
        When the visit was and when the camera recorded it.
    age, sex, medication : optional
        Covariates of the visit (age in years; sex female/male/other).
    scores : dict, optional
        Instrument name -> total score, e.g. ``{"bdi": 23}``; validated
        against ``facs_core/resources/instruments.csv``.
    repeat_visit : bool, optional
        Derived from the patient's earlier visits when not given.
    user : facs_core.services.access.User
        Who uploads: must be allowed ``upload`` for ``patient_id`` (checked
        here before anything is read; a refusal is audited). Recorded in the
        audit trail. A clinician creating a new patient code is assigned it
        in the same transaction as the visit, so they can open what they
        uploaded.
    progress : callable, optional
        ``progress(fraction, message)``, called as the work advances.
    synthetic : bool
        Demo data: the video (and a new patient) are labelled synthetic.

    Returns
    -------
    record, created : dict, bool
        The catalog row; ``created`` is False when the same content was
        already stored (the store is then left exactly as it was).

    Raises
    ------
    InputError
        The file is not a usable video, or a value is out of range. Nothing
        has been stored when this is raised.
    PermissionDenied
        ``user`` may not upload for this patient; nothing has been stored.
    """
    patient = check_patient_code(patient_id)
    uploader = access.authorise(catalog, user, "upload", patient)
    actor = uploader.username
    source = Path(path)
    metadata = probe_video(source, original_name=original_name)
    if progress is not None:
        progress(0.0, "probed")
    checked_scores = check_scores(scores)
    checked_age = check_age(age)
    checked_sex = check_sex(sex)
    medication = medication.strip() if medication and medication.strip() else None
    for label, value in (("visit date", visit_date), ("recording date", recording_date)):
        check_date(label, value)

    sha = _hash_with_progress(source, progress)

    def visit_rows(video_id: str) -> None:
        # In the video row's transaction: a crash at any point leaves either
        # nothing catalogued or the whole visit.
        if progress is not None:
            progress(0.8, "stored")
        crash_point("ingest-rows-uncommitted")
        repeat = repeat_visit
        if repeat is None:
            repeat = derive_repeat_visit(catalog, patient, visit_date, video_id)
        set_covariates(catalog, video_id, age=checked_age, sex=checked_sex, medication=medication, repeat_visit=repeat)
        add_scores(catalog, video_id, checked_scores, visit_date)
        audit.record(catalog, actor, audit.UPLOAD, video_id, f"container {metadata.container}")
        if access.permissions().get((uploader.role, "upload")) == "assigned" and not access.is_assigned(
            catalog, actor, patient
        ):
            # Authorised above, so the patient is new: its uploader may see it, in the same transaction.
            assign_patient(catalog, actor, patient, actor=actor)

    record, created = add_video(
        catalog,
        source,
        metadata,
        patient_id=patient,
        original_name=original_name,
        visit_date=visit_date,
        camera=camera.strip() if camera and camera.strip() else None,
        recording_date=recording_date,
        synthetic=synthetic,
        sha256=sha,
        with_row=visit_rows,
    )
    if not created:
        return record, False
    crash_point("ingest-committed")
    if progress is not None:
        progress(1.0, "done")
    return record, True
