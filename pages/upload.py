"""Upload: interview videos with the visit's clinical data.

Every field is validated by the library's own checks (:mod:`facs_core.services.ingest`)
before anything is stored; a message appears under the field at fault. Files
are received with :func:`facs_core.services.uploads.receive` (size, disk and content
checks), probed, stored by content hash and given a browser-playable copy
when their codec needs one.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from facs_core.errors import FacsError
from facs_core.reference import instruments
from facs_core.services import access, ingest, uploads, visibility
from facs_core.services.playback import ensure_playback_copy, needs_playback_copy
from store.videos import check_patient_code
from web import common, formatting, run_notices
from web.auth import require

store = common.catalog()
user = require(store, "upload")

st.title("Upload interviews")
st.caption("Videos are stored by content under the data folder; the original file name is kept as metadata only.")

ERRORS = "upload_errors"
RESULTS = "upload_results"
#: Widget keys of the visit's fields (cleared after a new visit is stored).
FIELDS = (
    "up_patient",
    "up_visit_date",
    "up_age",
    "up_sex",
    "up_camera",
    "up_medication",
    *(f"up_score_{i.key}" for i in instruments()),
)

if st.session_state.pop("up_clear_fields", False):
    # Set before the widgets exist: the next visit starts from an empty form, not the last patient's data.
    # Assigned, not deleted: a deleted key leaves the browser showing (and sending back) the old value.
    for key in FIELDS:
        st.session_state[key] = "" if key in ("up_patient", "up_sex", "up_camera", "up_medication") else None
errors: dict[str, str] = st.session_state.setdefault(ERRORS, {})
# The file picker gets a new key after each submit that handled its files, so they are never sent twice.
files_key = f"up_files_{st.session_state.get('up_round', 0)}"


def forget_error(name: str) -> None:
    """A field's message goes as soon as the field is changed; the next submit checks it again."""
    st.session_state.get(ERRORS, {}).pop(name, None)


def field_error(name: str) -> None:
    """The validation message of one field, right under it."""
    if name in errors:
        st.error(errors[name], icon=":material/error:")


with st.container(border=True):
    files = st.file_uploader(
        "Interview videos",
        type=["mp4", "mov", "m4v", "avi", "mkv", "webm"],
        accept_multiple_files=True,
        key=files_key,
        on_change=forget_error,
        args=("files",),
        help="Choose one or more recordings of the same visit's patient. MP4 (H.264) plays directly in the"
        " browser; other codecs get a playback copy.",
    )
    field_error("files")
    left, right = st.columns(2)
    with left:
        patient = st.text_input(
            "Patient code",
            placeholder="e.g. P017",
            key="up_patient",
            help="A pseudonymous code, never a name.",
            on_change=forget_error,
            args=("patient",),
        )
        field_error("patient")
        visit_date = st.date_input(
            "Visit date",
            value=None,
            key="up_visit_date",
            min_value=ingest.EARLIEST_DATE,
            max_value=date.today(),
            format="YYYY-MM-DD",
            help="Required: the date of the interview. Whether a visit repeats an earlier one follows from it.",
            on_change=forget_error,
            args=("visit_date",),
        )
        field_error("visit_date")
        # No min/max on the widget: an out-of-range value reaches the server and gets a message naming the field.
        age = st.number_input(
            "Age (years)", value=None, step=1, format="%d", key="up_age", on_change=forget_error, args=("age",)
        )
        field_error("age")
        sex = st.selectbox("Sex", ["", "female", "male", "other"], key="up_sex", on_change=forget_error, args=("sex",))
        field_error("sex")
    with right:
        camera = st.text_input("Camera", placeholder="e.g. camera A", key="up_camera")
        medication = st.text_input("Medication", placeholder="e.g. SSRI", key="up_medication")
        for instrument in instruments():
            st.number_input(
                f"{instrument.label} ({instrument.min:g}-{instrument.max:g})",
                value=None,
                step=1,
                format="%d",
                key=f"up_score_{instrument.key}",
                on_change=forget_error,
                args=(f"score_{instrument.key}",),
            )
            field_error(f"score_{instrument.key}")
    submitted = st.button("Save visit", type="primary", icon=":material/save:", key="up_submit")


def validate() -> dict[str, str]:
    """One message per field at fault, from the library's checks; each names its field."""
    found: dict[str, str] = {}
    if not files:
        found["files"] = "Interview videos: choose at least one video file."
    checks = {
        "patient": lambda: check_patient_code(patient),
        "visit_date": lambda: ingest.check_visit_date(visit_date),
        "age": lambda: ingest.check_age(age),
        "sex": lambda: ingest.check_sex(sex or None),
    }
    for name, check in checks.items():
        try:
            check()
        except FacsError as exc:
            found[name] = formatting.sentence(exc) + "."
    for instrument in instruments():
        value = st.session_state.get(f"up_score_{instrument.key}")
        if value is None:
            continue
        try:
            ingest.check_scores({instrument.key: value})
        except FacsError as exc:
            # The field already names the instrument: say the score and its range once.
            within = instrument.min <= float(value) <= instrument.max
            found[f"score_{instrument.key}"] = (
                f"{formatting.column_label(instrument.key)}: {exc}."
                if within
                else f"{formatting.column_label(instrument.key)} score {formatting.number(value)} is outside"
                f" {instrument.min:g}–{instrument.max:g}."
            )
    if "patient" not in found:
        try:
            access.check(store, user, "upload", patient.strip())
        except FacsError as exc:
            found["patient"] = formatting.sentence(exc) + "."
    return found


def store_upload(upload, clinical: dict, results: list[dict]) -> bool:
    """Receive, store and catalogue one file; True when it was new to the store."""
    bar = st.progress(0.0, text=f"{upload.name}: receiving")
    received = uploads.receive(store, user, upload, upload.name, patient_id=clinical["patient_id"])
    try:
        record, created = ingest.ingest_video(
            store,
            received.path,
            original_name=received.display_name,
            user=user,
            progress=lambda f, m: bar.progress(min(0.7 * f, 0.7), text=f"{received.display_name}: {m}"),
            **clinical,
        )
    finally:
        received.path.unlink(missing_ok=True)
    if created and needs_playback_copy(record):
        ensure_playback_copy(
            store,
            record["video_id"],
            progress=lambda f, m: bar.progress(
                0.7 + 0.3 * min(f, 1.0), text=f"{received.display_name}: playback copy {m}"
            ),
        )
    bar.progress(1.0, text=f"{received.display_name}: done")
    viewer = common.viewer(store)
    if created:
        results.append(
            {
                "kind": "success",
                "text": f"{received.display_name} stored as video {record['video_id']} for patient"
                f" {record['patient_id']}.",
                "record": {
                    k: record.get(k) for k in ("container", "frame_count", "header_frame_count", "decode_errors")
                },
                "label": received.display_name,
            }
        )
    else:
        results.append(
            {"kind": "warning", "text": visibility.duplicate_upload_message(viewer, record, received.display_name)}
        )
    if viewer.sees_patient(record["patient_id"]) or created:
        # Links to the next steps only for a video this user may open.
        st.session_state.setdefault("uploaded_videos", []).append(record["video_id"])
    return created


if submitted:
    found = validate()
    st.session_state[ERRORS] = found
    if found:
        st.session_state[RESULTS] = []
        st.rerun()
    code = patient.strip()
    scores = {
        i.key: st.session_state[f"up_score_{i.key}"]
        for i in instruments()
        if st.session_state.get(f"up_score_{i.key}") is not None
    }
    clinical = {
        "patient_id": code,
        "visit_date": visit_date,
        "camera": camera or None,
        "age": age,
        "sex": sex or None,
        "medication": medication or None,
        "scores": scores,
    }
    stored_any = False
    results: list[dict] = []
    handled = 0
    for upload in files:
        with common.friendly_errors():
            stored_any = store_upload(upload, clinical, results) or stored_any
            handled += 1
    st.session_state[RESULTS] = results
    if handled == len(files):
        # Every file was stored or recognised: the picker empties, and after a new visit so does the form.
        st.session_state["up_round"] = st.session_state.get("up_round", 0) + 1
        st.session_state["up_clear_fields"] = stored_any
        st.rerun()
elif errors:
    one = len(errors) == 1
    st.error(
        f"{formatting.count(len(errors), 'field')} {'needs' if one else 'need'} attention;"
        f" see the {'message under it' if one else 'messages under them'}.",
        icon=":material/error:",
    )

for result in st.session_state.get(RESULTS, []):
    if result["kind"] == "success":
        st.success(result["text"], icon=":material/check_circle:")
        common.damage_badge(result["record"], label=result["label"])
    else:
        st.warning(result["text"], icon=":material/content_copy:")

uploaded = st.session_state.get("uploaded_videos", [])
if uploaded:
    common.page_link(
        "pages/timeline.py", label="Mark symptom segments on the timeline", query_params={"video": uploaded[-1]}
    )
    run_notices.extract_link(uploaded[-1], label="Extract Action Units from this video")
