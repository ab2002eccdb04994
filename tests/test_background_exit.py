"""The dashboard's background work ends with the process: nothing of it is left inside the store at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_interpreter_waits_for_a_cache_warm_under_way(tmp_path: Path) -> None:
    # A warm takes seconds inside DuckDB; were the process to finalise meanwhile, the interpreter would
    # unwind the daemon thread through DuckDB's C++ frames and abort. Exit must wait for it to finish.
    finished = tmp_path / "warm finished"
    script = textwrap.dedent(
        f"""
        import time
        from web import background, wavelet_analysis

        def slow_warm(data_dir):
            time.sleep(1.5)
            open({str(finished)!r}, "w").close()

        wavelet_analysis.warm = slow_warm
        background._cache_warmer({str(tmp_path / "data")!r})
        time.sleep(0.3)  # the warmer has started its warm; the process now ends
        """
    )
    (tmp_path / "data").mkdir()
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert finished.exists()
