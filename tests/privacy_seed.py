"""A store seeded with canary strings in every sensitive field, shared by the privacy tests.

Patient ``PNOBODY9`` is assigned to nobody and carries a canary in every
free-text field; ``POWN1`` is the clinician's own patient, with its own
(visible to the clinician) texts. The demo cohort (synthetic, no videos)
makes the cohort pages computable. Built with the store's own functions on a
real DuckDB file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facs_core.datasets import demo_frames
from facs_core.reference import action_units
from facs_core.services.access import LocalOperator
from facs_core.services.demo import load_demo
from facs_core.services.ingest import ingest_video
from facs_core.services.jobs import cancel_job, submit_extraction
from store import Catalog, runs, users
from store.segment_rows import add_segment

PASSWORD = "correct-horse-battery"
CLINICIAN, RESEARCHER, ADMIN = "clara", "rita", "ada"
OWN_PATIENT = "POWN1"
NOBODYS_PATIENT = "PNOBODY9"

#: Canary strings in the fields of the patient assigned to nobody.
CANARIES: dict[str, str] = {
    "label": "canarylabel talks about Maria Keller",
    "medication": "canarymed-sertraline",
    "camera": "canarycam-ward7",
    "original_name": "canaryfile-Keller-2024.mp4",
    "patient": NOBODYS_PATIENT,
}
#: Texts of the clinician's own patient: the clinician may see them, researchers and admins not.
OWN_TEXTS: dict[str, str] = {
    "label": "ownlabel-freetext",
    "medication": "ownmed-lithium",
    "camera": "owncam-room2",
    "original_name": "ownfile-visit1.mp4",
}


def add_frames(catalog: Catalog, video: dict, bdi: float, seed_value: int) -> None:
    """A finished run of ``video`` with generated AU frames (an extraction without Ray's start-up)."""
    fps, duration = float(video["fps"]), float(video["duration_s"])
    frames = demo_frames(bdi, "", np.zeros(len(action_units())), seed_value, fps=fps, duration_s=duration - 1 / fps)
    identity = {"video": video["video_id"], "generator": "tests.privacy_seed", "seed": seed_value}
    digest = runs.params_hash(identity)
    run_id = runs.run_id_for(digest)
    runs.add_finished_run(
        catalog,
        run_id,
        frames,
        video_id=video["video_id"],
        backend="synthetic",
        backend_version="0",
        params=identity,
        hash_hex=digest,
    )


def seed(catalog: Catalog, feat_data: Path, *, demo: bool = True, frames: bool = False) -> dict[str, str]:
    """Fill ``catalog``: accounts, two real videos with canaries, segments, the demo cohort.

    With ``frames``, both videos get a finished run of generated AU frames,
    so they take part in the cohort statistics. Returns the two video ids as
    ``{"nobody": ..., "own": ...}``.
    """
    for name, role in ((ADMIN, "admin"), (CLINICIAN, "clinician"), (RESEARCHER, "researcher")):
        users.add_user(catalog, name, role, PASSWORD, actor="test")
    if demo:
        load_demo(catalog, with_videos=False, n_patients=4)
    nobody, _ = ingest_video(
        catalog,
        feat_data / "single_face.mp4",
        original_name=CANARIES["original_name"],
        patient_id=NOBODYS_PATIENT,
        camera=CANARIES["camera"],
        medication=CANARIES["medication"],
        age=40,
        sex="female",
        scores={"bdi": 20},
        user=LocalOperator("test"),
    )
    own, _ = ingest_video(
        catalog,
        feat_data / "no_face.mp4",
        original_name=OWN_TEXTS["original_name"],
        patient_id=OWN_PATIENT,
        camera=OWN_TEXTS["camera"],
        medication=OWN_TEXTS["medication"],
        age=35,
        sex="male",
        scores={"bdi": 12},
        user=LocalOperator("test"),
    )
    users.assign_patient(catalog, CLINICIAN, OWN_PATIENT, actor="test")
    add_segment(catalog, nobody["video_id"], 0.0, 1.0, CANARIES["label"], author="test")
    add_segment(catalog, nobody["video_id"], 1.0, 2.0, "sleep", author="test")
    add_segment(catalog, own["video_id"], 0.0, 1.5, OWN_TEXTS["label"], author=CLINICIAN)
    add_segment(catalog, own["video_id"], 2.0, 3.0, "anhedonia", author=CLINICIAN)
    if frames:
        add_frames(catalog, nobody, 20, 1)
        add_frames(catalog, own, 12, 2)
        # Job rows for the job lists, cancelled before anything runs them.
        for job_id in submit_extraction(
            catalog, [nobody["video_id"], own["video_id"]], "mediapipe", {}, LocalOperator("test")
        ):
            cancel_job(catalog, job_id, LocalOperator("test"))
    return {"nobody": nobody["video_id"], "own": own["video_id"]}
