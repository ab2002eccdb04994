"""pingouin's view of a cohort, the independent reference the statistics are checked against."""

from __future__ import annotations

import pandas as pd


def pingouin_frame(features: pd.DataFrame, clinical: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Features and clinical merged, covariates dummy-coded by hand for pingouin."""
    data = clinical.merge(features, on="video_id")
    data["sex_male"] = (data["sex"] == "male").astype(float)
    data["camera_b"] = (data["camera"] == "cam_b").astype(float)
    data["camera_c"] = (data["camera"] == "cam_c").astype(float)
    return data, ["age", "sex_male", "camera_b", "camera_c", "medication", "repeat_visit"]
