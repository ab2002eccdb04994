"""Building the command line's parser stays cheap: no scientific stack, no store.

Every ``python -m facs_core`` call, ``--help`` included, builds the whole
parser, so the command modules import the library inside their handlers and
repeat the few constants their options need. These tests hold both halves of
that bargain: the imports stay out, and the repeated values still agree with
the library's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Modules whose import costs a noticeable part of a second (or opens the store's machinery).
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "duckdb", "pyarrow", "argon2", "pywt", "store.catalog")


def test_building_the_parser_imports_no_heavy_module() -> None:
    # A fresh interpreter: this test process has long imported all of them.
    script = textwrap.dedent(
        f"""
        import sys
        from facs_core.cli import build_parser
        build_parser()
        heavy = {HEAVY!r}
        print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"building the parser imported {done.stdout.strip()}"


def test_reading_the_data_folder_path_leaves_the_catalog_unimported() -> None:
    # Every command reads the data folder's path; one that then analyses files
    # (stats scalogram --frames) must not pay for DuckDB and the catalog.
    script = textwrap.dedent(
        """
        import sys
        from facs_core.cli import _data_folder
        _data_folder(None)
        print(sorted(m for m in sys.modules if m in ("duckdb", "store.catalog")))
        from store import Catalog, open_catalog
        print(open_catalog.__module__, Catalog.__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "store.catalog Catalog"], done.stdout


def _run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "facs_core", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_help_runs_in_a_fresh_interpreter() -> None:
    done = _run_cli("--help", cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert "COMMAND" in done.stdout and "stats" in done.stdout


def test_repeated_import_formats_match_the_library() -> None:
    from facs_core.cli import import_command
    from facs_core.importers import FORMATS

    assert FORMATS == import_command.FORMATS


def test_repeated_backend_names_match_the_library() -> None:
    from facs_core.backends.base import backend_names
    from facs_core.cli import extract_command

    assert backend_names() == extract_command.BACKEND_NAMES


def test_repeated_synthetic_label_matches_the_library() -> None:
    from facs_core.cli import demo_command
    from facs_core.services import demo

    assert demo.SYNTHETIC_LABEL == demo_command.SYNTHETIC_LABEL


def test_repeated_stats_options_match_the_library() -> None:
    from facs_core import features
    from facs_core.cli import stats_command
    from facs_core.stats import multicomp, partial_corr

    assert features.DEFAULT_THRESHOLD == stats_command.DEFAULT_THRESHOLD
    assert partial_corr.METHODS == stats_command.METHODS
    assert tuple(multicomp.CORRECTIONS) == stats_command.CORRECTIONS


def test_repeated_engine_options_match_the_library() -> None:
    from facs_core.cli import profile_command, scalogram_command, stats_command
    from facs_core.services.analysis import MapParams
    from facs_core.stats import cohort, profile
    from facs_core.wavelets import DEFAULT_PERIODS, log_periods

    assert tuple(cohort.METHODS) == stats_command.COHORT_METHODS
    assert tuple(cohort.FEATURE_KINDS) == stats_command.FEATURE_KINDS
    assert tuple(cohort.DATA_SOURCES) == stats_command.DATA_SOURCES == scalogram_command.DATA_SOURCES
    assert tuple(cohort.DATA_SOURCES) == profile_command.DATA_SOURCES
    assert cohort.PERMUTATIONS == stats_command.DEFAULT_PERMUTATIONS
    assert profile.PROFILE_MODES == profile_command.MODES and profile.MEASURES == profile_command.MEASURES
    assert profile.MIN_REFERENCE_PATIENTS == profile_command.MIN_REFERENCE_PATIENTS
    # The page's default periods are what its command line spells.
    default = MapParams()
    assert default.period_count == scalogram_command.DEFAULT_PERIOD_COUNT
    low, high = (float(x) for x in default.periods_spec.split("-"))
    assert default.periods == DEFAULT_PERIODS == tuple(log_periods(low, high, default.period_count))


def test_the_command_line_runs_from_any_folder(tmp_path: Path) -> None:
    # `make` installs the project into .venv, so researchers can run it where their data are.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run_cli("--data-dir", "store", "init", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "store").is_dir()
