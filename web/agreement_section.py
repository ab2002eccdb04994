"""The "Backend agreement" section of a visit: per-AU r and ICC(3,1), and a Bland-Altman plot.

Shown when a visit has finished runs of two backends (py-feat and MediaPipe);
the numbers come from :mod:`facs_core.comparison`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from facs_core.errors import FacsError
from facs_core.services import agreement_runs as agreement
from web import common

__all__ = ["agreement_section"]


def agreement_section(store, video_id: str) -> None:
    """Render the section for ``video_id`` (a caption only when fewer than two backends ran)."""
    st.subheader("Backend agreement")
    backends = agreement.visit_backends(store, video_id)["backend"].tolist()
    if len(backends) < 2:
        st.caption(
            f"Runs of one backend only ({', '.join(backends) or 'none'}): extract this visit with another backend"
            " to see how far the two agree."
        )
        return
    left, right = st.columns(2)
    # Keyed by visit: a choice made on one visit must not carry over to another with other backends.
    first = left.selectbox(
        "First backend",
        backends,
        index=backends.index("pyfeat") if "pyfeat" in backends else 0,
        key=f"ag_first_{video_id}",
    )
    second = right.selectbox("Second backend", [b for b in backends if b != first], key=f"ag_second_{video_id}")
    try:
        comparison = agreement.compare_visit(store, video_id, (first, second))
    except FacsError as exc:
        st.caption(f"No agreement: {common.visible_text(store, str(exc))}")
        return
    st.caption(
        f"Frame-level agreement of {first} and {second} on the frames both analysed with a face: Pearson r,"
        " ICC(3,1) (two-way mixed, consistency, single measure) with its 95% interval, and Bland-Altman's mean"
        f" difference ({second} minus {first}) with 95% limits of agreement."
    )
    common.show_table(store, comparison.table, human=True, hide_index=True, width="stretch", key="ag_table")
    aus = comparison.table.loc[comparison.table["n_frames"] > 0, "au"].tolist()
    if not aus:
        return
    au = st.selectbox("Bland-Altman plot of", aus, index=aus.index("AU12") if "AU12" in aus else 0, key="ag_au")
    pairs = comparison.pairs(au)
    points = pd.DataFrame(
        {"mean": (pairs["first"] + pairs["second"]) / 2, "difference": pairs["second"] - pairs["first"]}
    )
    row = comparison.table.set_index("au").loc[au]
    lines = pd.DataFrame(
        {
            "y": [row["mean_difference"], row["loa_low"], row["loa_high"]],
            "line": ["mean difference", "lower limit (-1.96 SD)", "upper limit (+1.96 SD)"],
        }
    )
    chart = alt.Chart(points).mark_circle(size=18, opacity=0.5).encode(
        x=alt.X("mean:Q", title=f"mean of {first} and {second}"),
        y=alt.Y("difference:Q", title=f"{second} − {first}"),
    ) + alt.Chart(lines).mark_rule(strokeDash=[4, 3]).encode(
        y="y:Q",
        # The two limits of agreement are one kind of line: one colour, the mean difference another.
        color=alt.Color(
            "line:N",
            title=None,
            scale=alt.Scale(domain=lines["line"].tolist(), range=["#333333", "#c0392b", "#c0392b"]),
        ),
    )
    st.altair_chart(chart.properties(height=260, title=f"Bland-Altman · {au}"), width="stretch", key="ag_plot")
