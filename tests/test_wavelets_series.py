"""AU series on the frame grid: gap filling, splitting, segments and input checks."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_core.errors import InputError
from facs_core.series import check_frame_rate, split_valid, validate_frames, validate_segments, video_pieces


def test_short_gap_is_interpolated_long_gap_splits() -> None:
    values = np.array([np.nan, 1.0, 2.0, np.nan, np.nan, 5.0, 6.0, np.nan, np.nan, np.nan, 10.0, 11.0, np.nan])
    pieces = split_valid(values, max_gap=2)
    assert [offset for offset, _ in pieces] == [1, 10]
    np.testing.assert_array_equal(pieces[0][1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_array_equal(pieces[1][1], [10.0, 11.0])


def test_zero_max_gap_splits_at_every_missing_frame() -> None:
    pieces = split_valid(np.array([1.0, np.nan, 2.0, 3.0]), max_gap=0)
    assert [(o, p.tolist()) for o, p in pieces] == [(0, [1.0]), (2, [2.0, 3.0])]


def test_all_missing_gives_no_piece() -> None:
    assert split_valid(np.full(10, np.nan), max_gap=5) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.just(float("nan")), st.floats(0, 1)), min_size=1, max_size=80),
    st.integers(0, 6),
)
def test_pieces_cover_every_valid_frame_once(values: list[float], max_gap: int) -> None:
    array = np.array(values)
    pieces = split_valid(array, max_gap)
    covered = np.zeros(array.size, dtype=int)
    for offset, piece in pieces:
        assert np.isfinite(piece).all()
        covered[offset : offset + piece.size] += 1
        # Valid samples are kept as they were.
        original = array[offset : offset + piece.size]
        np.testing.assert_array_equal(piece[np.isfinite(original)], original[np.isfinite(original)])
    assert (covered <= 1).all()
    assert (covered[np.isfinite(array)] == 1).all()
    # Between two pieces there is always a gap longer than max_gap.
    for (o1, p1), (o2, _) in pairwise(pieces):
        assert o2 - (o1 + p1.size) > max_gap


def _video(n: int, fps: float = 30.0) -> pd.DataFrame:
    frame = np.arange(n)
    return pd.DataFrame(
        {"video_id": "v1", "frame": frame, "timestamp": frame / fps, "AU01": np.linspace(0, 1, n), "AU12": 0.5}
    )


def test_segments_cut_at_their_bounds() -> None:
    video = _video(300)
    pieces = list(video_pieces(video, ["AU01"], 30.0, max_gap=15, bounds=[(1.0, 2.0), (5.0, 20.0)]))
    assert [(p.segment, p.first_frame, p.n_frames) for p in pieces] == [(0, 30, 30), (1, 150, 150)]


def test_missing_rows_and_no_face_are_gaps() -> None:
    video = _video(200).drop(index=range(50, 100))
    video["face"] = True
    video.loc[150:154, "face"] = False
    pieces = list(video_pieces(video, ["AU12"], 30.0, max_gap=10))
    # 50 dropped frames split; the 5 frames without a face are filled.
    assert [(p.first_frame, p.n_frames) for p in pieces] == [(0, 50), (100, 100)]


def test_validate_frames_messages() -> None:
    video = _video(10)
    assert validate_frames(video) == ["AU01", "AU12"]
    with pytest.raises(InputError, match="no column 'timestamp'"):
        validate_frames(video.drop(columns="timestamp"))
    with pytest.raises(InputError, match="no AU column"):
        validate_frames(video.drop(columns=["AU01", "AU12"]))
    with pytest.raises(InputError, match="frame 3 more than once"):
        validate_frames(pd.concat([video, video.iloc[[3]]]))
    bad = video.astype({"AU12": object})
    bad.loc[4, "AU12"] = "high"
    with pytest.raises(InputError, match="AU12 in row 6 is 'high'"):
        validate_frames(bad)


def test_segments_validation() -> None:
    with pytest.raises(InputError, match="ends"):
        validate_segments(pd.DataFrame({"video_id": ["v1"], "start_s": [5.0], "end_s": [2.0]}))
    with pytest.raises(InputError, match="no column 'end_s'"):
        validate_segments(pd.DataFrame({"video_id": ["v1"], "start_s": [5.0]}))


def test_frame_rate_must_match_timestamps() -> None:
    check_frame_rate(_video(100, fps=30.0), 30.0)
    with pytest.raises(InputError, match=r"25 fps\), but fps is 30"):
        check_frame_rate(_video(100, fps=25.0), 30.0)
    with pytest.raises(InputError, match="positive"):
        check_frame_rate(_video(100), 0.0)
