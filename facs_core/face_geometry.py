"""Distances on the face mesh, normalised by face size: the geometric half of the offline AUs.

MediaPipe's 478 landmarks come in image-relative coordinates (x by the
picture's width, y by its height, z on the scale of x). They are turned into
pixels (z times the width) and every distance below is three-dimensional, so
a head turned a little away does not shorten it much, and is divided by the
*inter-ocular distance* (outer eye corners 33 and 263), so the face's size in
the picture does not matter. Each ratio is dimensionless.

Landmark numbers are MediaPipe Face Mesh's (canonical face model,
``mediapipe/modules/face_geometry/data/canonical_face_model_uv_visualization.png``);
"left"/"right" below mean the picture's left and right.

=================  ==========================================================
column             definition
=================  ==========================================================
``geo_lip_gap``    inner upper lip (13) to inner lower lip (14)
``geo_eye_open``   eyelid aperture over eye width, mean of both eyes:
                   ``|159-145| / |33-133|`` and ``|386-374| / |362-263|``
``geo_mouth_width`` mouth corner to mouth corner (61-291)
``geo_lip_red``    visible red of the lips at the midline: mean of the
                   upper (0-13) and lower (14-17) lip heights
``geo_upper_lip``  below the nose (2) to the top of the upper lip (0)
``geo_alar_eye``   nose wing to inner eye corner, mean of 98-133 and 327-362
``geo_lid_mouth``  lower eyelid to mouth corner, mean of 145-61 and 374-291
``geo_brow_eye``   brow to upper eyelid, mean of 105-159 and 334-386
=================  ==========================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["GEOMETRY_COLUMNS", "geometry_features"]

#: Output names, in order.
GEOMETRY_COLUMNS: tuple[str, ...] = (
    "geo_lip_gap",
    "geo_eye_open",
    "geo_mouth_width",
    "geo_lip_red",
    "geo_upper_lip",
    "geo_alar_eye",
    "geo_lid_mouth",
    "geo_brow_eye",
)

# (numerator pairs, denominator pairs or None for the inter-ocular distance); pairs are averaged.
_DEFINITIONS: tuple[tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...] | None], ...] = (
    (((13, 14),), None),
    (((159, 145), (386, 374)), ((33, 133), (362, 263))),
    (((61, 291),), None),
    (((0, 13), (14, 17)), None),
    (((2, 0),), None),
    (((98, 133), (327, 362)), None),
    (((145, 61), (374, 291)), None),
    (((105, 159), (334, 386)), None),
)
_IOD = (33, 263)


def geometry_features(points: np.ndarray) -> np.ndarray:
    """The :data:`GEOMETRY_COLUMNS` ratios of one face.

    Parameters
    ----------
    points : ndarray, shape (478, 3)
        Landmarks in pixels (x, y, and z on the scale of x).

    Returns
    -------
    ndarray of float, length ``len(GEOMETRY_COLUMNS)``
    """

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(points[a] - points[b]))

    iod = max(dist(*_IOD), 1e-9)
    values = []
    for numerators, denominators in _DEFINITIONS:
        if denominators is None:
            values.append(sum(dist(a, b) for a, b in numerators) / len(numerators) / iod)
        else:
            ratios = [dist(*n) / max(dist(*d), 1e-9) for n, d in zip(numerators, denominators, strict=True)]
            values.append(sum(ratios) / len(ratios))
    return np.asarray(values, float)
