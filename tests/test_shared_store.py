"""One store shared by the dashboard and command-line processes at the same time.

Real processes on real DuckDB files: a dashboard process (Streamlit's AppTest
rendering the Extraction page in a loop, with the app's background job
driver) while CLI writers add videos, segments, users and run jobs; drivers
racing for the same jobs; and what the dashboard shows after the command line
changed the store, without a restart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from facs_core.services.access import LocalOperator, User
from facs_core.services.ingest import ingest_video
from facs_core.services.jobs import submit_extraction
from store import job_rows, open_catalog, users
from tests.conftest import REPO_ROOT
from web import common

PASSWORD = "correct-horse-battery"


def _video_id(option: str) -> str:
    """The video id inside a picker label (the label may carry a status such as "damaged: ...")."""
    return next(part for part in option.split(" · ") if re.fullmatch("[0-9a-f]{16}", part))


def _cli(data_dir: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.Popen(
        [sys.executable, "-m", "facs_core", "--data-dir", str(data_dir), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen, stdin: str | None = None, timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(stdin, timeout=timeout)
    return proc.returncode, out, err


def _one_line_refusal(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err


# -- drivers: one per job ---------------------------------------------------------
CLAIMER = """
import json, sys, time
from store import open_catalog
from store import job_rows
catalog = open_catalog(sys.argv[1])
driver = job_rows.new_driver_id()
won = []
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    free = job_rows.claimable_job_ids(catalog)
    if not free:
        break
    for job_id in free:
        if job_rows.claim_job(catalog, job_id, driver):
            won.append(job_id)
print(json.dumps({"driver": driver, "won": won}), flush=True)
# Stay alive until every racer has reported: a finished racer's jobs would otherwise
# count as abandoned (dead driver) and be rightly taken over by one still racing.
sys.stdin.read()
"""


def test_racing_drivers_claim_each_job_exactly_once(data_dir: Path) -> None:
    catalog = open_catalog(data_dir)
    try:
        created = [job_rows.create_job(catalog, "extract", None, "test") for _ in range(30)]
    finally:
        catalog.close()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(data_dir)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [json.loads(r.stdout.readline()) for r in racers]
    for racer in racers:
        racer.communicate(timeout=300)
    won = [job for result in results for job in result["won"]]
    assert sorted(won) == sorted(created)  # every job claimed, none twice
    catalog = open_catalog(data_dir)
    try:
        rows = catalog.query("SELECT job_id, status, driver FROM jobs")
        owner = {job: result["driver"] for result in results for job in result["won"]}
        assert (rows["status"] == "running").all()
        assert dict(zip(rows["job_id"], rows["driver"], strict=True)) == owner
        # Their processes ended: the jobs are abandoned, claimable again, and requeued by the next driver.
        assert sorted(job_rows.claimable_job_ids(catalog)) == sorted(created)
    finally:
        catalog.close()


def test_a_live_driver_keeps_its_job_and_a_lost_lease_stops_its_writes(catalog) -> None:
    job = job_rows.create_job(catalog, "extract", None, "test")
    first, second = job_rows.new_driver_id(), job_rows.new_driver_id()
    assert job_rows.claim_job(catalog, job, first)
    assert not job_rows.claim_job(catalog, job, second)  # this process is alive and the lease fresh
    assert job_rows.set_progress(catalog, job, 0.5, "half", driver=first)
    # The first driver stalls past its lease; the second takes over.
    catalog.execute("UPDATE jobs SET lease_expires = 0 WHERE job_id = ?", [job])
    assert job_rows.claim_job(catalog, job, second)
    assert not job_rows.set_progress(catalog, job, 0.9, "stale", driver=first)
    assert not job_rows.set_job_status(catalog, job, "done", driver=first)
    assert job_rows.renew_leases(catalog, first, [job]) == set()
    assert job_rows.renew_leases(catalog, second, [job]) == {job}
    row = job_rows.get_job(catalog, job)
    assert (row["status"], row["progress"], row["driver"]) == ("running", 0.5, second)


# -- the dashboard sees what the command line did -------------------------------
def _extraction_page(store, username: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "extraction.py"), default_timeout=120)
    at.session_state["user"] = User(username, "clinician")
    return at


def test_dashboard_session_shows_command_line_writes_without_a_restart(
    data_dir: Path, feat_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACS_DATA_DIR", str(data_dir))
    store = common.catalog()  # opened the way the app opens it, and kept for the whole test
    try:
        users.add_user(store, "clin", "clinician", PASSWORD, actor="test")
        for patient in ("P001", "P002"):
            users.assign_patient(store, "clin", patient, actor="test")
        first, _ = ingest_video(
            store, feat_data / "no_face.mp4", user=LocalOperator("test"), original_name="a.mp4", patient_id="P001"
        )
        at = _extraction_page(store, "clin").run()
        assert not at.exception
        assert [_video_id(o) for o in at.multiselect(key="ex_videos").options] == [first["video_id"]]

        added = _cli(
            data_dir,
            "videos",
            "add",
            str(feat_data / "single_face.mp4"),
            "--patient",
            "P001",
            "--visit-date",
            "2024-03-01",
        )
        code, out, err = _finish(added)
        assert code == 0, err
        video_id = out.split()[2].rstrip(":")
        at.run()
        assert not at.exception
        # The same patient's second visit: nothing but the store changed between the two renders.
        assert sorted(_video_id(o) for o in at.multiselect(key="ex_videos").options) == sorted(
            [first["video_id"], video_id]
        )

        # A job queued from this session appears for the command line, and the reverse.
        (page_job,) = submit_extraction(store, [video_id], "mediapipe", {}, User("clin", "clinician"))
        listed = _cli(data_dir, "jobs", "list")
        code, out, err = _finish(listed)
        assert code == 0, err
        assert page_job in out and "queued" in out
        cancelled = _cli(data_dir, "jobs", "cancel", page_job)
        assert _finish(cancelled)[0] == 0
        at.run()
        assert not at.exception
        assert at.button(key=f"retry_{page_job}")  # the command line's cancel shows here

        timeline = AppTest.from_file(str(REPO_ROOT / "pages" / "timeline.py"), default_timeout=120)
        timeline.session_state["user"] = User("clin", "clinician")
        timeline.query_params["video"] = video_id
        timeline.run()
        assert not timeline.exception
        assert "No segments yet" in " ".join(str(c.value) for c in timeline.caption)
        segment = _cli(
            data_dir, "segments", "add", video_id, "--start", "0.5", "--end", "1.5", "--label", "flat affect"
        )
        code, out, err = _finish(segment)
        assert code == 0, err
        segment_id = int(out.split()[1])
        timeline.run()
        assert not timeline.exception
        assert timeline.text_input(key=f"seg{segment_id}_label").value == "flat affect"
        edit = _cli(data_dir, "segments", "edit", str(segment_id), "--revision", "1", "--label", "psychomotor slowing")
        assert _finish(edit)[0] == 0
        timeline.run()
        assert not timeline.exception
        # The open editor learns that the command line changed the segment under it.
        assert f"Segment {segment_id} was changed by cli" in " ".join(str(w.value) for w in timeline.warning)
    finally:
        store.close()
        common._open_store.clear()


# -- the dashboard and many writers at once ------------------------------------------
DASHBOARD = """
import json, re, sys, time
from pathlib import Path
_video_id = lambda o: next(p for p in o.split(" · ") if re.fullmatch("[0-9a-f]{16}", p))
from streamlit.testing.v1 import AppTest
from facs_core.services.access import User
from web import background, common

repo, stop = Path(sys.argv[1]), Path(sys.argv[2])
store = common.catalog()
background.start_background_work(store)  # the app's job driver and cache warmer, as app.py starts them
at = AppTest.from_file(str(repo / "pages" / "extraction.py"), default_timeout=120)
at.session_state["user"] = User("clin", "clinician")
last = False
while True:
    stopping = stop.exists()
    started = time.monotonic()
    at.run()
    print(json.dumps({
        "render_s": time.monotonic() - started,
        "errors": [str(e.value) for e in at.exception] + [str(e.value) for e in at.error],
        "videos": [_video_id(o) for o in at.multiselect(key="ex_videos").options],
        "jobs": [str(p.value) + " " + str(getattr(p, "text", "")) for p in at.get("progress")],
        "captions": [str(c.value) for c in at.caption],
    }), flush=True)
    if stopping:
        break
    time.sleep(0.3)
"""


@pytest.mark.slow
def test_dashboard_and_concurrent_cli_writers_lose_nothing(data_dir: Path, feat_data: Path, tmp_path: Path) -> None:
    catalog = open_catalog(data_dir)
    try:
        users.add_user(catalog, "clin", "clinician", PASSWORD, actor="test")
        users.assign_patient(catalog, "clin", "P000", actor="test")
        base, _ = ingest_video(
            catalog,
            feat_data / "single_face.mp4",
            original_name="base.mp4",
            patient_id="P000",
            user=LocalOperator("test"),
        )
    finally:
        catalog.close()
    stop = tmp_path / "stop"
    env = {"FACS_DATA_DIR": str(data_dir), "RAY_DISABLE_USAGE_STATS": "1"}
    dashboard = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD, str(REPO_ROOT), str(stop)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert json.loads(dashboard.stdout.readline())["videos"] == [base["video_id"]]  # first render done
        patient_videos = {"P001": "no_face.mp4", "P002": "face_noface.mov", "P003": "noface_face.mov"}
        wait = {"FACS_LOCK_TIMEOUT_S": "120"}
        writers = {}
        for patient, name in patient_videos.items():
            writers[f"add {patient}"] = _cli(
                data_dir,
                "videos",
                "add",
                str(feat_data / name),
                "--patient",
                patient,
                "--visit-date",
                "2024-03-01",
                "--score",
                "bdi=20",
                "--no-playback",
                env=wait,
            )
            writers[f"assign {patient}"] = _cli(data_dir, "users", "assign", "clin", patient, env=wait)
        for i in range(4):
            writers[f"segment {i}"] = _cli(
                data_dir,
                "segments",
                "add",
                base["video_id"],
                "--start",
                str(0.5 * i),  # the base video lasts 2.4 s
                "--end",
                str(0.5 * i + 0.4),
                "--label",
                f"seg{i}",
                env=wait,
            )
            writers[f"user {i}"] = _cli(
                data_dir, "users", "add", f"sso{i}@example.org", "--role", "researcher", "--sso", env=wait
            )
        writers["jobs run"] = _cli(data_dir, "jobs", "run", base["video_id"], "--workers", "1", env=wait)
        # Writers that will not wait: refused or done, never half done.
        impatient = {
            f"impatient {i}": _cli(
                data_dir,
                "users",
                "add",
                f"quick{i}@example.org",
                "--role",
                "researcher",
                "--sso",
                env={"FACS_LOCK_TIMEOUT_S": "0"},
            )
            for i in range(4)
        }
        results = {name: _finish(proc, timeout=900) for name, proc in {**writers, **impatient}.items()}
        for name, (code, _, err) in results.items():
            if name.startswith("impatient"):
                assert code in (0, 2), (name, err)
                if code == 2:
                    _one_line_refusal(err)
                    assert "is busy" in err
            else:
                assert code == 0, (name, err)
        stop.touch()
        out, err = dashboard.communicate(timeout=300)
    finally:
        if dashboard.poll() is None:
            os.killpg(dashboard.pid, 9)
            dashboard.wait()
    renders = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert dashboard.returncode == 0, err[-3000:]
    assert renders and not any(r["errors"] for r in renders), [r["errors"] for r in renders if r["errors"]]

    catalog = open_catalog(data_dir)
    try:
        videos = set(catalog.query("SELECT video_id FROM videos")["video_id"])
        assert len(videos) == 4
        assert catalog.scalar("SELECT count(*) FROM assessments") == 3
        assert catalog.scalar("SELECT count(*) FROM segments WHERE video_id = ?", [base["video_id"]]) == 4
        accepted = [n for n, (code, _, _) in results.items() if n.startswith("impatient") and code == 0]
        names = set(catalog.query("SELECT username FROM users")["username"])
        assert {f"sso{i}@example.org" for i in range(4)} <= names
        assert {n for n in names if n.startswith("quick")} == {f"quick{n.split()[1]}@example.org" for n in accepted}
        assert catalog.scalar("SELECT count(*) FROM assignments WHERE username = 'clin'") == 4
        job = catalog.query("SELECT status, driver FROM jobs").iloc[0]
        assert job["status"] == "done" and job["driver"]
        assert catalog.scalar("SELECT count(*) FROM runs WHERE status = 'done'") == 1
        assert not list(data_dir.rglob("*.partial*"))
    finally:
        catalog.close()
    # The dashboard session saw every new visit and the finished job, without a restart.
    final = renders[-1]
    assert set(final["videos"]) == videos
    assert any("with a face" in c for c in final["captions"]), final
