"""An appearance descriptor of a detected face, to tell two people apart in one video.

No face-recognition model can be downloaded here, so the descriptor is a
classic hand-made one, cheap enough to compute on every face of every frame:

1. The face is cut out of the picture *aligned on the eyes* (the outer eye
   corners: MediaPipe landmarks 33 and 263, or points 36 and 45 of the
   68-point scheme py-feat reports): a similarity transform puts
   them at fixed places of a :data:`CROP` x :data:`CROP` grey image, so
   position, size and in-plane rotation do not change the descriptor.
2. Texture: rotation-invariant uniform local binary patterns (LBP, P = 8,
   R = 1; Ojala, Pietikainen & Maenpaa 2002, IEEE TPAMI 24(7)), 10 codes,
   histogrammed in a 3 x 3 grid of cells (the face-description layout of
   Ahonen, Hadid & Pietikainen 2006, IEEE TPAMI 28(12)).
3. Colour: a hue x saturation histogram (8 x 4 bins) of the same aligned crop
   in colour: skin tone, hair and lighting of the person.

Each histogram is square-rooted (Hellinger kernel) and the whole vector scaled
to unit length, so the Euclidean distance between two descriptors lies in
[0, sqrt(2)] and does not depend on the face's size in pixels.

The descriptor tells *people in one recording* apart (constant camera and
lighting); it is not a biometric identifier and is never compared across
videos.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CROP", "DESCRIPTOR_SIZE", "IBUG68_EYES", "face_descriptor"]

#: Side of the aligned face crop, pixels.
CROP = 48
#: Where the two outer eye corners land in the crop (x of left, x of right, y).
_EYES = (0.2 * CROP, 0.8 * CROP, 0.38 * CROP)
_GRID = 3
_HUE_BINS, _SAT_BINS = 8, 4
#: Length of :func:`face_descriptor`'s output.
DESCRIPTOR_SIZE = _GRID * _GRID * 10 + _HUE_BINS * _SAT_BINS

# MediaPipe Face Mesh: outer corner of the eye on the image's left, and on its right.
_EYE_LEFT, _EYE_RIGHT = 33, 263
#: The same two points in the 68-point iBUG scheme (py-feat's ``x_0 .. x_67``), counted from 0.
IBUG68_EYES = (36, 45)


def _riu2_table() -> np.ndarray:
    """8-bit LBP code -> rotation-invariant uniform code (0..8 ones, 9 = non-uniform)."""
    table = np.empty(256, np.uint8)
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        transitions = sum(bits[k] != bits[(k + 1) % 8] for k in range(8))
        table[code] = sum(bits) if transitions <= 2 else 9
    return table


_RIU2 = _riu2_table()


def _aligned_crop(image: np.ndarray, landmarks: np.ndarray, eyes: tuple[int, int]) -> np.ndarray:
    left, right = landmarks[eyes[0]], landmarks[eyes[1]]
    source = np.float32([left, right, left + np.array([left[1] - right[1], right[0] - left[0]])])
    x0, x1, y = _EYES
    target = np.float32([[x0, y], [x1, y], [x0, y + (x1 - x0)]])
    matrix = cv2.getAffineTransform(source, target)
    return cv2.warpAffine(image, matrix, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _lbp_grid(grey: np.ndarray) -> np.ndarray:
    g = grey.astype(np.int16)
    centre = g[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.uint8)
    offsets = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = g[1 + dy : g.shape[0] - 1 + dy, 1 + dx : g.shape[1] - 1 + dx]
        code |= (neighbour >= centre).astype(np.uint8) << bit
    codes = _RIU2[code]
    side = codes.shape[0] // _GRID
    cells = codes[: side * _GRID, : side * _GRID].reshape(_GRID, side, _GRID, side).swapaxes(1, 2)
    flat = cells.reshape(_GRID * _GRID, side * side)
    hist = np.zeros((_GRID * _GRID, 10), np.float32)
    for row in range(_GRID * _GRID):
        hist[row] = np.bincount(flat[row], minlength=10)
    return (hist / (side * side)).ravel()


def face_descriptor(
    image: np.ndarray, landmarks: np.ndarray, eyes: tuple[int, int] = (_EYE_LEFT, _EYE_RIGHT)
) -> np.ndarray:
    """Appearance descriptor of one face (float32, length :data:`DESCRIPTOR_SIZE`, unit norm).

    Parameters
    ----------
    image : ndarray
        The whole picture, RGB ``uint8``, ``(height, width, 3)``.
    landmarks : ndarray
        The face's landmarks in pixels, ``(n, 2)`` (x, y): by default
        MediaPipe's 478.
    eyes : (int, int)
        Indices in ``landmarks`` of the outer eye corners, on the image's left
        then right: MediaPipe's (33, 263) by default, :data:`IBUG68_EYES` for
        the 68-point scheme py-feat reports.
    """
    crop = _aligned_crop(image, landmarks, eyes)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    texture = _lbp_grid(grey)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    colour = cv2.calcHist([hsv], [0, 1], None, [_HUE_BINS, _SAT_BINS], [0, 180, 0, 256]).ravel()
    colour /= max(float(colour.sum()), 1.0)
    vector = np.sqrt(np.concatenate([texture / _GRID**2, colour]))
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
