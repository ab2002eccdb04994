"""Shared view helpers for the pages: the store, labels, errors, charts.

Pages stay thin: they read the store and call :mod:`facs_core`; this module
only holds what every page needs to look and behave the same way.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from facs_core.backends.base import BACKENDS, backend_class
from facs_core.damage import damage_status
from facs_core.errors import FacsError, NoDataError, TooFewVisitsError
from facs_core.services import visibility
from facs_core.services.access import PermissionDenied
from facs_core.services.demo import SYNTHETIC_LABEL
from facs_core.services.logs import log_exception
from facs_core.wording import count, sentence
from store import Catalog, listings, resolve_data_dir
from web import page_data

__all__ = [
    "ICONS",
    "RESEARCH_CAVEAT",
    "au_source_note",
    "catalog",
    "chart_downloads",
    "chart_image",
    "damage_badge",
    "download_buttons",
    "friendly_errors",
    "job_visit",
    "page_link",
    "progress_reporter",
    "real_visits",
    "reproduce",
    "result_downloads",
    "selection_interval",
    "selection_point",
    "show_table",
    "synthetic_banner",
    "synthetic_count",
    "synthetic_reference_note",
    "too_few_real_visits",
    "unknown_patient_notice",
    "unknown_visit_notice",
    "viewer",
    "visible_text",
    "visit_label",
    "visit_labels",
    "visits_table",
]

#: Material icons of the pages (emoji render as empty boxes on servers without an emoji font).
ICONS = {
    "home": ":material/home:",
    "upload": ":material/upload_file:",
    "timeline": ":material/movie:",
    "extraction": ":material/memory:",
    "patient": ":material/person:",
    "cohort": ":material/query_stats:",
    "significance": ":material/grid_on:",
    "export": ":material/download:",
    "admin": ":material/admin_panel_settings:",
}

RESEARCH_CAVEAT = (
    "Research software, not a diagnostic device: these measurements describe facial movement in a recording"
    " and must not be used on their own to diagnose or grade depression."
)


_open_store = page_data.open_store


def catalog() -> Catalog:
    """The process's one catalog, opened once per data folder (``FACS_DATA_DIR``).

    Raises
    ------
    StoreError
        The store cannot be opened; the message names the path.
    """
    return _open_store(str(resolve_data_dir()))


def synthetic_banner(synthetic: int, total: int | None = None, *, where: str = "on this page") -> None:
    """Label synthetic data, so nobody mistakes it for patients' and no patient for a demo.

    ``synthetic`` of ``total`` visits shown ``where`` are synthetic (``total``
    None: all of them). Nothing is said when none is; when only some are, the
    banner says how many, because the other visits are real patients'.
    """
    if synthetic <= 0:
        return
    if total == 1:
        text = f"**{SYNTHETIC_LABEL}**: this visit is generated data or a sample video of an actor, not a patient's."
    elif total is None or synthetic >= total:
        text = (
            f"**{SYNTHETIC_LABEL}**: the visits {where} are generated data and sample videos of actors, not patients."
        )
    else:
        real = total - synthetic
        text = (
            f"**{SYNTHETIC_LABEL} data included**: {count(synthetic, 'visit')} of the {total} {where}"
            f" {'is' if synthetic == 1 else 'are'} generated data or sample videos of actors, not patients;"
            f" {'the other one is' if real == 1 else f'the other {real} are'} real."
        )
    st.info(text, icon=":material/science:")


def synthetic_reference_note() -> None:
    """Say that a real patient is compared with synthetic visits (the page's own visits are real)."""
    st.info(
        f"**{SYNTHETIC_LABEL} in the reference**: the z-scores and percentiles compare this patient with visits"
        " that include generated data and sample videos of actors, not only patients.",
        icon=":material/science:",
    )


def synthetic_count(store: Catalog, video_ids: Sequence[str]) -> tuple[int, int]:
    """``(synthetic, total)`` among ``video_ids``, for :func:`synthetic_banner`."""
    return listings.count_synthetic(store, video_ids), len(set(map(str, video_ids)))


def au_source_note(store: Catalog, video_ids: Sequence[str]) -> None:
    """Say that AUs are blendshape-derived wherever a blendshape backend's values are shown."""
    backends = listings.done_backends(store, video_ids)
    derived = [b for b in backends if b in BACKENDS and backend_class(b).au_source == "blendshape"]
    for name in derived:
        absent = backend_class(name).absent_aus()
        st.caption(
            f":material/info: AU values from the {name} backend are **estimates** (blendshape coefficients,"
            " or landmark ratios for AU25 and AU43, each derived as the project's AU derivation table in"
            " docs/validation.md states),"
            " not FACS-coded AUs. " + (_absent_text(name, absent, [b for b in backends if b != name]) if absent else "")
        )


def _absent_text(name: str, absent: Sequence[str], others: Sequence[str]) -> str:
    """What the ``name`` backend does not measure, and where those AUs' values shown here come from."""
    listed = ", ".join(absent)
    if not others:
        return f"**Not measured** (no honest estimate, absent from every table and export): {listed}."
    return (
        f"**Not measured by {name}** (no honest estimate): {listed}; their values here come only from the visits"
        f" of the {' and '.join(others)} backend{'s' if len(others) > 1 else ''}."
    )


def viewer(store: Catalog) -> visibility.Viewer:
    """What the signed-in user may see (:mod:`facs_core.services.visibility`), re-read from the catalog.

    Raises
    ------
    PermissionDenied
        Nobody is signed in or the account is disabled.
    """
    return visibility.viewer_for(store, st.session_state.get("user"))


def visible_text(store: Catalog, text: str) -> str:
    """``text`` with whatever the signed-in user may not see removed (:func:`facs_core.services.visibility.scrub`).

    Every message built from stored data or from a library error goes through
    this before it is shown; with nobody signed in nothing but a fixed text is.
    """
    try:
        return visibility.scrub(store, viewer(store), text)
    except PermissionDenied:
        return "sign in again"


def show_table(
    store: Catalog,
    frame: pd.DataFrame,
    *,
    human: bool = False,
    kinds: dict[str, str] | None = None,
    static: bool = False,
    **kwargs,
) -> None:
    """``st.dataframe`` of ``frame`` as the signed-in user may see it (:func:`.visibility.visible_table`).

    The only way pages show a table: rows of other patients and restricted
    columns never reach the browser. Values are shown as they are (no
    spreadsheet formula guard: that is for downloaded files), as text, never
    as HTML or markdown.

    With ``human=True`` the visible table is then written for a reader
    (:func:`web.formatting.human_table`: column labels, dates,
    p-values, no ``None``; ``kinds`` overrides a column's format), and a
    legend follows when a cell is blank. ``static=True`` draws ``st.table``,
    whose cells wrap long text (a few rows of sentences) instead of cutting it.
    """
    seen_by = viewer(store)
    table = visibility.visible_table(seen_by, frame, visibility.scrubber(store, seen_by))
    legend = None
    if human:
        from web.formatting import MISSING, MISSING_LEGEND, human_table

        table = human_table(table, kinds)
        legend = MISSING_LEGEND if (table == MISSING).to_numpy().any() else None
    if static:
        st.table(table, **kwargs)
    else:
        st.dataframe(table, **kwargs)
    if legend:
        st.caption(legend)


@contextlib.contextmanager
def friendly_errors(real_visits: int | None = None) -> Iterator[None]:
    """Show a :class:`FacsError` as its one line, anything else as a pointer to the log.

    Messages are written in the command line's style (lowercase start, so they
    read after ``error:``); shown alone on a page they start with a capital
    (:func:`facs_core.wording.sentence`).

    The line passes through :func:`visible_text`, so an error that quotes a
    stored value (a covariate level, a file name, a path) shows it only to
    whoever may see it. With ``real_visits`` (the page analyses real visits
    only), too few of them is explained as a note pointing at the data
    source choice (:func:`too_few_real_visits`), not shown as an error; any
    other :class:`~facs_core.errors.NoDataError` (too few visits of a
    segment, no emotion values) is shown as information in its reader's words.
    """
    try:
        yield
    except NoDataError as exc:
        # Nothing to analyse among the chosen visits is an ordinary state: explained, never red.
        detail = visible_text(catalog(), exc.reader or sentence(exc))
        if isinstance(exc, TooFewVisitsError) and real_visits is not None:
            st.info(f"{too_few_real_visits(real_visits, exc)}\n\nIn detail: {detail}", icon=":material/info:")
        elif isinstance(exc, TooFewVisitsError):
            st.info(
                f"{detail}\n\nTo see it, include more visits (Frames analysed, Data source) or choose fewer"
                " covariates.",
                icon=":material/info:",
            )
        else:
            st.info(detail, icon=":material/info:")
    except FacsError as exc:
        st.error(sentence(visible_text(catalog(), str(exc))), icon=":material/error:")
    except Exception as exc:
        log_exception(exc)
        st.error(
            f"Something went wrong ({type(exc).__name__}); the details are in the server's error log.",
            icon=":material/error:",
        )


def real_visits(clinical: pd.DataFrame, source: str) -> int | None:
    """How many visits of ``clinical`` are real when ``source`` is real visits only, else None."""
    if source != "real":
        return None
    if "synthetic" not in clinical:
        return len(clinical)
    return int((~clinical["synthetic"].fillna(False).astype(bool)).sum())


def too_few_real_visits(real_visits: int, exc: TooFewVisitsError) -> str:
    """Plain words for an analysis of real visits only that has too few of them."""
    from facs_core.stats.cohort import DATA_SOURCES

    return (
        f"There {'is' if real_visits == 1 else 'are'} {real_visits} real visit{'' if real_visits == 1 else 's'}"
        f" so far, {exc.n} with extracted features, the score and every covariate; this analysis needs at least"
        f" {exc.needed}. To see it now, choose \u201c{DATA_SOURCES['synthetic']}\u201d or"
        f" \u201c{DATA_SOURCES['both']}\u201d under Data source (or use fewer covariates)."
    )


def progress_reporter(bar) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback that drives an ``st.progress`` bar."""

    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    return report


def visits_table(store: Catalog, patient_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Videos with their patient, visit date and BDI, for pickers (:func:`store.listings.visits`)."""
    return listings.visits(store, patient_ids)


def visit_label(row: pd.Series | dict) -> str:
    """How a visit is named in pickers: patient, date, and the demo label when synthetic."""
    date = pd.Timestamp(row["visit_date"]).date().isoformat() if pd.notna(row["visit_date"]) else "no date"
    mark = f" · {SYNTHETIC_LABEL}" if row.get("synthetic") else ""
    damage = damage_status(row)
    mark += f" · {damage}" if damage else ""
    return f"{row['patient_id'] or 'no patient'} · {date} · {row['video_id']}{mark}"


def visit_labels(visits: pd.DataFrame) -> dict[str, str]:
    """:func:`visit_label` of every row of a :func:`visits_table`, by video id.

    Built from the visits a user may see, so a job or a link names a visit
    (patient, date) only for whoever may see that patient.
    """
    return {row["video_id"]: visit_label(row) for row in visits.to_dict("records")}


def job_visit(labels: dict[str, str], video_id: object) -> str | None:
    """How a job on ``video_id`` is named: its :func:`visit_labels` entry, else ``video <id>``, None for no video."""
    if video_id is None or (isinstance(video_id, float) and pd.isna(video_id)):
        return None
    return labels.get(str(video_id), f"video {video_id}")


def damage_badge(row: pd.Series | dict, label: str | None = None) -> None:
    """A visible badge on a damaged visit (:func:`facs_core.damage.damage_status`); nothing otherwise.

    ``row`` is the visit's catalog row or its :func:`visits_table` row;
    ``label`` names the visit where a page shows several.
    """
    damage = damage_status(row)
    if damage:
        st.badge(f"{label}: {damage}" if label else damage, icon=":material/broken_image:", color="orange")


def chart_image(chart: alt.TopLevelMixin, fmt: str) -> bytes:
    """The chart rendered offline by vl-convert: ``fmt`` ``"png"`` (2x scale) or ``"svg"``."""
    import vl_convert as vlc

    # Altair refuses to inline more than 5,000 rows, a guard for notebooks; the
    # page already draws the chart in full, so its file must hold the same rows.
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_json()
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=2)
    if fmt == "svg":
        return vlc.vegalite_to_svg(spec).encode("utf-8")
    raise ValueError(f"unknown chart format {fmt!r}")


def chart_downloads(chart: alt.TopLevelMixin, name: str, key: str) -> None:
    """PNG and SVG download buttons for an Altair chart (rendered only when clicked, while still signed in).

    The buttons do not rerun the page: a rerun started by the click would
    replace the button's deferred file while the browser still asks for the
    old one, and the download would silently never come.
    """
    from web.deferred import while_signed_in

    buttons = [
        (fmt.upper(), fmt, mime, while_signed_in(catalog(), lambda fmt=fmt: chart_image(chart, fmt)))
        for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml"))
    ]
    download_buttons(buttons, name, key, ":material/image:")


def download_buttons(
    buttons: Sequence[tuple[str, str, str, Callable[[], bytes]]], name: str, key: str, icon: str
) -> None:
    """Download buttons side by side, one per ``(label, extension, mime type, make)``.

    ``make()`` makes the file when the button is clicked; the file is
    ``<name>.<extension>``, the button's key ``<key>-<extension>``. The
    buttons do not rerun the page (see :func:`chart_downloads`).
    """
    for column, (label, fmt, mime, make) in zip(st.columns(len(buttons)), buttons, strict=True):
        column.download_button(
            label, data=make, file_name=f"{name}.{fmt}", mime=mime, key=f"{key}-{fmt}", icon=icon, on_click="ignore"
        )


def selection_interval(event, name: str, field: str) -> tuple[float, float] | None:
    """``[start, end]`` of an Altair interval brush returned by ``st.altair_chart``.

    Read with dict access so a selection injected through session state (as
    AppTest does) works like one made in the browser.
    """
    try:
        values = event["selection"][name][field]
    except (KeyError, TypeError):
        return None
    if not values or len(values) != 2:
        return None
    start, end = sorted(float(v) for v in values)
    return start, end


def selection_point(event, name: str) -> dict | None:
    """The first selected point of an Altair point selection, or None."""
    try:
        points = event["selection"][name]
    except (KeyError, TypeError):
        return None
    if isinstance(points, list) and points:
        return dict(points[0])
    return None


def _plain(text: str) -> str:
    """``text`` shown literally in Markdown: every character Markdown could act on is escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$:])", r"\\\1", text)


def unknown_patient_notice(wanted: str | None, choices: Sequence[str], shown: str) -> None:
    """Say that the patient a link asked for is not among ``choices`` and which one is shown instead.

    The same sentence whether the code exists for someone else or not at all, so
    the notice tells nothing about other users' patients. ``wanted`` comes from
    the URL: it is shortened and escaped, never rendered as Markdown.
    """
    _unknown_link_notice("patient", "patients", wanted, choices, shown)


def unknown_visit_notice(
    wanted: str | None, choices: Sequence[str], shown_id: str, shown: str, key: str = "unknown_visit_link"
) -> None:
    """Say that the video a link asked for (``?video=``) is not among ``choices``; ``shown`` names the visit shown.

    Worded as :func:`unknown_patient_notice`, and as it the same whether the
    video exists for someone else or not at all. The page then puts the shown
    video ``shown_id`` in the address, so the link's id is gone on the next
    run (a player reporting its state reruns the page at once); the refusal
    is kept under ``key`` in the session and said again for as long as that
    video stays shown and in the address.
    """
    remembered = st.session_state.get(key)
    if wanted and wanted not in choices:
        remembered = st.session_state[key] = (wanted, shown_id)
    elif remembered is not None and (wanted != remembered[1] or shown_id != remembered[1]):
        # Another visit was chosen, or the page was opened afresh: the link is no longer what is shown.
        st.session_state.pop(key, None)
        remembered = None
    if remembered is not None:
        _unknown_link_notice("visit", "visits", remembered[0], choices, shown)


def _unknown_link_notice(noun: str, plural: str, wanted: str | None, choices: Sequence[str], shown: str) -> None:
    if not wanted or wanted in choices:
        return
    st.info(
        f"No {noun} {_plain(wanted[:40])} among the {plural} you may see; showing {_plain(shown)}.",
        icon=":material/info:",
    )


def page_link(
    page: str, label: str, icon: str = ":material/arrow_forward:", query_params: dict[str, str] | None = None
) -> None:
    """``st.page_link`` that degrades to plain text when the page is run on its own (tests, one-page runs).

    ``query_params`` travel with the link (``?video=...``), so the page opens on what it was opened for.
    """
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(page, label=label, icon=icon, query_params=query_params)
    except StreamlitPageNotFoundError:
        st.caption(label)


def reproduce(store: Catalog, command: str, result: pd.DataFrame, key: str, table: str = "this table") -> None:
    """Under a result: its provenance and the copyable command line that gives the same table.

    The command runs the same engine on the same store (``--from-store``);
    its output carries the same provenance columns, so the two can be
    compared number for number. ``table`` names the result in the expander's
    title where a page shows two, e.g. ``"the emotion table"``.
    """
    info = dict(result.attrs.get("provenance", {}))
    if "df" in result and result["df"].notna().any():
        df = result["df"].dropna()
        info["df"] = f"{df.min():g}" if df.min() == df.max() else f"{df.min():g}-{df.max():g}"
    if "covariates" in info:
        from web.formatting import column_label

        info["covariates"] = ", ".join(column_label(c) for c in info["covariates"]) or "none"
    # The engine writes "AU x period cells" (plain ASCII in files); the reader sees a times sign.
    info = {name: v.replace("AU x ", "AU × ") if isinstance(v, str) else v for name, v in info.items()}
    software = info.pop("software", "")
    parts = [f"{name.replace('_', ' ')}: {value}" for name, value in info.items() if value not in (None, "")]
    with st.expander(f"Provenance and the command that reproduces {table}", icon=":material/terminal:"):
        st.code(command, language="bash", wrap_lines=True)
        st.caption(visible_text(store, " · ".join([*parts, software])))
    st.session_state[key] = command


def result_downloads(store: Catalog, user, table: pd.DataFrame, name: str, what: str) -> None:
    """CSV and Parquet of a result table with its provenance, for users who may export; audited when made."""
    from facs_core.services import access
    from facs_core.services.downloads import export_for
    from web.deferred import session_token

    if not access.allowed(user, "export"):
        return
    token = session_token()
    buttons = [
        (
            f"Table ({fmt.upper()})",
            fmt,
            mime,
            lambda fmt=fmt: export_for(store, user, table, what=what, fmt=fmt, session_token=token),
        )
        for fmt, mime in (("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet"))
    ]
    download_buttons(buttons, name, name, ":material/download:")
