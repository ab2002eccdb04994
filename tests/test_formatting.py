"""The dashboard's value typography (web.formatting) against known values."""

from __future__ import annotations

import datetime as dt
import doctest

import numpy as np
import pandas as pd
import pytest

from web import formatting
from web.formatting import MISSING, column_label, date, human_table, integer, number, p_value, percent


@pytest.mark.parametrize(
    ("p", "shown"),
    [
        (0.0000007, "< 0.001"),
        (0.000999, "< 0.001"),
        (0.0, "< 0.001"),
        (0.001, "0.00100"),
        (0.0012345, "0.00123"),
        (0.0457321, "0.0457"),
        (0.04999, "0.0500"),
        (0.5, "0.500"),
        (0.123456, "0.123"),
        (1.0, "1.00"),
        (np.float64(0.25), "0.250"),
        (None, MISSING),
        (float("nan"), MISSING),
        (pd.NA, MISSING),
    ],
)
def test_p_values_read_as_in_a_journal_table(p, shown: str) -> None:
    assert p_value(p) == shown


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("inf")])
def test_a_p_value_outside_0_1_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="p-value"):
        p_value(bad)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (41.0, "41"),
        (23, "23"),
        (0.123456, "0.123"),
        (-0.5, "-0.500"),
        (2.5, "2.50"),
        (12.3456, "12.3"),
        (1234.567, "1235"),
        (0.000123456, "0.000123"),
        (None, MISSING),
        (np.nan, MISSING),
    ],
)
def test_numbers_have_three_significant_digits_and_whole_numbers_none(value, shown: str) -> None:
    assert number(value) == shown


def test_integers_percent_and_dates() -> None:
    assert integer(23.0) == "23" and integer(None) == MISSING
    assert percent(0.123) == "12 %" and percent(0.0) == "0 %"
    assert date(pd.Timestamp("2026-03-02 00:00:00")) == "2026-03-02"
    assert date(dt.date(2026, 3, 2)) == "2026-03-02"
    assert date(np.datetime64("2026-03-02T00:00:00")) == "2026-03-02"
    assert date("2026-03-02") == "2026-03-02"
    assert date(pd.NaT) == MISSING


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("video_id", "Video"),
        ("visit_date", "Visit date"),
        ("repeat_visit", "Repeat visit"),
        ("bdi", "BDI-II"),
        ("phq9", "PHQ-9"),
        ("hamd17", "HAM-D17"),
        ("p_fdr", "p (adjusted)"),
        ("AU12", "AU12"),
        ("AU12_rate", "AU12 rate"),
        ("AU04_sd", "AU04 SD"),
        ("window_s", "Window (s)"),
        ("some_new_thing", "Some new thing"),
    ],
)
def test_column_labels_are_what_a_reader_says(name: str, label: str) -> None:
    assert column_label(name) == label


def test_human_table_formats_each_column_by_its_kind_and_leaves_no_none() -> None:
    frame = pd.DataFrame(
        {
            "video_id": ["a1", "b2"],
            "visit_date": pd.to_datetime(["2026-03-02", None]),
            "bdi": [23.0, None],
            "age": [41.0, 38.5],
            "repeat_visit": pd.array([True, None], dtype="boolean"),
            "p_fdr": [0.0000007, 0.0457321],
            "medication": ["SSRI", None],
        }
    )
    shown = human_table(frame)
    assert list(shown.columns) == [
        "Video",
        "Visit date",
        "BDI-II",
        "Age (years)",
        "Repeat visit",
        "p (adjusted)",
        "Medication",
    ]
    assert shown.iloc[0].tolist() == ["a1", "2026-03-02", "23", "41", "yes", "< 0.001", "SSRI"]
    assert shown.iloc[1].tolist() == ["b2", MISSING, MISSING, "38.5", MISSING, "0.0457", MISSING]
    text = shown.to_csv()
    assert "None" not in text and "nan" not in text and "00:00:00" not in text


def test_human_table_keeps_two_columns_that_read_the_same_apart() -> None:
    shown = human_table(pd.DataFrame({"p_fdr": [0.5], "p_adj": [0.25]}))
    assert list(shown.columns) == ["p (adjusted)", "p (adjusted) (p_adj)"]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(formatting, raise_on_error=False)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (6.2, "6 s"), (59.4, "59 s"), (59.7, "1.0 min"), (270, "4.5 min"), (3596, "59.9 min"),
     (3598, "1.00 h"), (8100, "2.25 h"), (None, MISSING)],
)  # fmt: skip
def test_a_duration_reads_in_the_largest_unit_that_stays_above_one(seconds, text) -> None:
    assert formatting.duration(seconds) == text
