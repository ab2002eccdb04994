"""The patient's face over a whole video: detect every face first, then decide who is who.

Extraction is two passes. The first (the backend, chunk by chunk, in
parallel) records *every* face of every frame with its box and an appearance
descriptor (:mod:`facs_core.identity`). The second, :func:`patient_track`,
runs once over the whole video's faces:

1. **Tracklets.** Faces are linked from frame to frame when the new face's
   centre lies within half a face width of the track's last centre *and* its
   descriptor lies within :data:`LINK_DISTANCE` of the track's recent
   appearance; a track survives gaps of up to :data:`MAX_GAP_S` seconds. The
   appearance gate is what stops a track from passing to the other person
   when two people change places or one covers the other.
2. **Identities.** Tracklets are merged, closest mean descriptors first,
   while the distance stays within :data:`MERGE_DISTANCE`; two tracklets that
   share a frame are two people and never merge.
3. **The patient** is the identity with the largest sum, over its frames, of
   ``(area / largest area in that frame) * (1 - distance to the picture's
   centre / half the diagonal)``: the person filmed on purpose is in the
   picture most of the time, large and central.
4. **Per face.** A face of the patient's identity counts as the patient's
   only when its own descriptor is no farther from the patient's prototype than from
   any other identity's. Its confidence is ``d_other / (d_patient +
   d_other)`` (``d_other`` capped at :data:`REFERENCE_DISTANCE`, the usual
   distance between two people, when there is no other identity), and it is
   *uncertain* below :data:`CONFIDENT_FROM`.

Frames where the patient's face is not found are ``no patient face``; when
other faces are seen there, ``other_face``. They are never filled with the
other person.

The thresholds were set on the constructed two-face videos of
``tests/two_face_videos.py`` (descriptor distance between detections of one
person: median 0.13, 99th percentile 0.18; between the two people: at least
0.5; faces merged by a covering face: 0.3 from both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

__all__ = [
    "CONFIDENT_FROM",
    "LINK_DISTANCE",
    "MAX_GAP_S",
    "MERGE_DISTANCE",
    "REFERENCE_DISTANCE",
    "STATUS_NO_FACE",
    "STATUS_OTHER_FACE",
    "STATUS_PATIENT",
    "TrackResult",
    "patient_track",
    "track_patient_faces",
]

LINK_DISTANCE = 0.3
MERGE_DISTANCE = 0.3
REFERENCE_DISTANCE = 0.5
CONFIDENT_FROM = 0.6
MAX_GAP_S = 1.0
#: How fast a track's appearance follows its latest faces (exponential average weight).
_APPEARANCE_RATE = 0.1

STATUS_PATIENT = "patient"
STATUS_OTHER_FACE = "other_face"
STATUS_NO_FACE = "no_face"


@dataclass(frozen=True)
class TrackResult:
    """Outcome of :func:`patient_track` for each face (arrays aligned with the input rows).

    Attributes
    ----------
    is_patient : ndarray of bool
        The face is the patient's (at most one per frame).
    track_id : ndarray of int64
        Tracklet number of every face (``-1`` for rows without a face).
    identity : ndarray of int64
        Identity number of every face (``-1`` for rows without a face); the
        patient's is :attr:`patient_identity`.
    confidence : ndarray of float
        Confidence that the face is the patient's, in [0, 1] (0 for other faces).
    patient_identity : int
        ``-1`` when the video has no face at all.
    """

    is_patient: np.ndarray
    track_id: np.ndarray
    identity: np.ndarray
    confidence: np.ndarray
    patient_identity: int


def _tracklets(
    frames: np.ndarray, times: np.ndarray, cx: np.ndarray, cy: np.ndarray, w: np.ndarray, desc: np.ndarray
) -> np.ndarray:
    """Tracklet number of each face (rows sorted by frame)."""
    n = len(frames)
    track = np.full(n, -1, np.int64)
    # Active tracks: last row, last time, running appearance.
    last_row: list[int] = []
    last_time: list[float] = []
    appearance: list[np.ndarray] = []
    ids: list[int] = []
    boundaries = np.flatnonzero(np.diff(frames)) + 1
    for rows in np.split(np.arange(n), boundaries):
        now = times[rows[0]]
        alive = [k for k in range(len(ids)) if now - last_time[k] <= MAX_GAP_S]
        cost = np.full((len(rows), len(alive)), np.inf)
        for j, k in enumerate(alive):
            prev = last_row[k]
            reach = 0.5 * max(w[prev], 1.0)
            moved = np.hypot(cx[rows] - cx[prev], cy[rows] - cy[prev])
            look = np.linalg.norm(desc[rows] - appearance[k], axis=1)
            ok = (moved <= reach) & (look <= LINK_DISTANCE)
            cost[ok, j] = (moved / reach)[ok] + (look / LINK_DISTANCE)[ok]
        matched: set[int] = set()
        if alive:
            finite = np.where(np.isfinite(cost), cost, 1e9)
            for i, j in zip(*linear_sum_assignment(finite), strict=True):
                if np.isfinite(cost[i, j]):
                    k = alive[j]
                    row = rows[i]
                    track[row] = ids[k]
                    last_row[k], last_time[k] = row, now
                    appearance[k] = (1 - _APPEARANCE_RATE) * appearance[k] + _APPEARANCE_RATE * desc[row]
                    matched.add(i)
        for i, row in enumerate(rows):
            if i not in matched:
                ids.append(len(ids))
                last_row.append(row)
                last_time.append(now)
                appearance.append(desc[row].astype(float))
                track[row] = ids[-1]
    return track


def _identities(track: np.ndarray, frames: np.ndarray, desc: np.ndarray) -> np.ndarray:
    """Identity number of each tracklet (index = tracklet number)."""
    n_tracks = int(track.max()) + 1
    sums = np.zeros((n_tracks, desc.shape[1]))
    np.add.at(sums, track, desc)
    counts = np.bincount(track, minlength=n_tracks).astype(float)
    frame_sets = [set(frames[track == t].tolist()) for t in range(n_tracks)]
    owner = np.arange(n_tracks)
    members = {t: [t] for t in range(n_tracks)}
    while len(members) > 1:
        keys = sorted(members)
        protos = np.stack([sums[members[k]].sum(axis=0) / counts[members[k]].sum() for k in keys])
        dist = np.linalg.norm(protos[:, None] - protos[None], axis=2)
        dist[np.tril_indices(len(keys))] = np.inf
        merged = False
        for flat in np.argsort(dist, axis=None):
            a, b = np.unravel_index(flat, dist.shape)
            if dist[a, b] > MERGE_DISTANCE:
                break
            ka, kb = keys[a], keys[b]
            seen_a = set().union(*(frame_sets[t] for t in members[ka]))
            if any(seen_a & frame_sets[t] for t in members[kb]):
                continue  # seen together in one frame: two people
            members[ka] += members.pop(kb)
            merged = True
            break
        if not merged:
            break
    for identity, tracks in enumerate(sorted(members.values())):
        owner[tracks] = identity
    return owner


def patient_track(
    frames: np.ndarray,
    times: np.ndarray,
    boxes: np.ndarray,
    descriptors: np.ndarray,
    frame_size: tuple[int, int],
) -> TrackResult:
    """Decide, over a whole video, which face in each frame is the patient's.

    Parameters
    ----------
    frames : ndarray of int
        Frame number of each detected face (several rows per frame when
        several faces were seen).
    times : ndarray of float
        Timestamp (s) of each row's frame.
    boxes : ndarray, shape (n, 4)
        Face box ``x, y, width, height`` in pixels.
    descriptors : ndarray, shape (n, d)
        Appearance descriptors (:func:`facs_core.identity.face_descriptor`).
    frame_size : (width, height)
        The picture's size in pixels.

    Returns
    -------
    TrackResult
        Aligned with the input rows.
    """
    n = len(frames)
    result = TrackResult(
        is_patient=np.zeros(n, bool),
        track_id=np.full(n, -1, np.int64),
        identity=np.full(n, -1, np.int64),
        confidence=np.zeros(n),
        patient_identity=-1,
    )
    if n == 0:
        return result
    order = np.argsort(frames, kind="stable")
    f, t = np.asarray(frames)[order], np.asarray(times, float)[order]
    x, y, w, h = (np.asarray(boxes, float)[order, k] for k in range(4))
    desc = np.asarray(descriptors, float)[order]
    cx, cy = x + w / 2, y + h / 2

    track = _tracklets(f, t, cx, cy, w, desc)
    identity = _identities(track, f, desc)[track]

    width, height = frame_size
    half_diagonal = np.hypot(width, height) / 2
    area = w * h
    largest = pd.Series(area).groupby(f).transform("max").to_numpy()
    centrality = np.clip(1 - np.hypot(cx - width / 2, cy - height / 2) / half_diagonal, 0, 1)
    score = np.bincount(identity, weights=area / largest * centrality)
    patient = int(np.argmax(score))

    n_ids = int(identity.max()) + 1
    protos = np.stack([desc[identity == k].mean(axis=0) for k in range(n_ids)])
    d_all = np.linalg.norm(desc[:, None, :] - protos[None], axis=2)
    d_patient = d_all[:, patient]
    others = np.delete(d_all, patient, axis=1)
    d_other = np.minimum(others.min(axis=1), REFERENCE_DISTANCE) if others.size else np.full(n, REFERENCE_DISTANCE)
    # The small constant makes two equal distances (even two zeros) exactly 0.5.
    confidence = (d_other + 1e-9) / (d_patient + d_other + 2e-9)
    is_patient = (identity == patient) & (d_patient <= d_other)

    back = np.empty(n, np.int64)
    back[order] = np.arange(n)
    return TrackResult(
        is_patient=is_patient[back],
        track_id=track[back],
        identity=identity[back],
        confidence=np.where(is_patient, confidence, 0.0)[back],
        patient_identity=patient,
    )


def track_patient_faces(
    detections: pd.DataFrame, box_columns: Sequence[str], confidence_column: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The detected faces of a video, tracked with :func:`patient_track`, and which of them are the patient's.

    Parameters
    ----------
    detections : DataFrame
        One row per detected face and per frame without one: ``frame``,
        ``timestamp``, a boolean ``face``, ``frame_width``, ``frame_height``,
        the face box in ``box_columns`` (x, y, width, height in pixels) and
        an appearance ``descriptor`` array.
    box_columns : sequence of str
        The four box columns, in that order.
    confidence_column : str
        The column that receives the confidence that a face is the patient's.

    Returns
    -------
    faces : DataFrame
        The rows with ``face`` true, renumbered from 0, with ``track_id``
        (the tracklet, -1 when there are no faces) and ``confidence_column``
        added.
    is_patient : ndarray of bool
        Aligned with ``faces``: the faces kept as the patient's.
    """
    faces = detections[detections["face"].to_numpy(dtype=bool)].reset_index(drop=True)
    faces["track_id"] = np.full(len(faces), -1, np.int64)
    faces[confidence_column] = np.zeros(len(faces))
    is_patient = np.zeros(len(faces), bool)
    if len(faces):
        size = (int(faces["frame_width"].iloc[0]), int(faces["frame_height"].iloc[0]))
        track = patient_track(
            faces["frame"].to_numpy(),
            faces["timestamp"].to_numpy(float),
            faces[list(box_columns)].to_numpy(float),
            np.stack(faces["descriptor"].to_numpy()),
            size,
        )
        faces["track_id"] = track.track_id
        faces[confidence_column] = track.confidence
        is_patient = track.is_patient
    return faces, is_patient
