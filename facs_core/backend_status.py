"""Which extraction backends can run on this machine, and how to make one ready.

Checks files only (no model is loaded, torch is not imported), so the
Extraction page and ``python -m facs_core models list`` can ask every time.
"""

from __future__ import annotations

from dataclasses import dataclass

from facs_core.errors import InputError

__all__ = ["BackendStatus", "backend_status", "backend_statuses"]


@dataclass(frozen=True)
class BackendStatus:
    """Readiness of one backend.

    Attributes
    ----------
    backend : str
        Backend name (``mediapipe``, ``pyfeat``).
    ready : bool
        Its model files are present and verified.
    where : str
        The folder or file the backend would load.
    detail : str
        One line: what is installed, or why the backend is not ready.
    how : str
        What to run to make it ready (empty when ready).
    refusal : str
        One line for someone who asked to queue a job with the backend while
        it is not ready: what is missing and who does what about it (empty
        when ready). Names no folder or environment variable.
    """

    backend: str
    ready: bool
    where: str
    detail: str
    how: str
    refusal: str = ""


def _mediapipe() -> BackendStatus:
    from facs_core.models import INSTALL_HINT, installed_model_path, mediapipe_model_path

    try:
        path = mediapipe_model_path()
    except InputError as exc:
        refusal = (
            "MediaPipe's model is not installed or does not match its pinned checksum; an administrator installs it"
            " with `python -m facs_core models install`"
        )
        return BackendStatus("mediapipe", False, str(installed_model_path()), str(exc), INSTALL_HINT, refusal)
    return BackendStatus("mediapipe", True, str(path), "face_landmarker.task, sha256 verified", "")


def _pyfeat() -> BackendStatus:
    from facs_core import pyfeat_weights

    how = (
        "on a machine with internet run `python -m facs_core models export pyfeat --out BUNDLE.tar`,"
        " copy BUNDLE.tar here and run `python -m facs_core models import BUNDLE.tar`"
    )
    not_installed = (
        "py-feat's model weights are not installed; an administrator installs them with"
        " `python -m facs_core models import BUNDLE.tar`"
    )
    try:
        pyfeat_weights.pyfeat_version()
    except InputError as exc:
        refusal = "py-feat is not installed on this server; an administrator installs the project's requirements"
        return BackendStatus("pyfeat", False, "", str(exc), "install the project's requirements (make run)", refusal)
    summary = pyfeat_weights.folder_summary()
    if summary["ready"]:
        return BackendStatus("pyfeat", True, summary["folder"], summary["detail"], "")
    if summary["detail"].startswith("not installed"):
        from facs_core.backends.pyfeat_backend import missing_in_pyfeat_cache, pyfeat_cache

        missing = missing_in_pyfeat_cache()
        if not missing:
            return BackendStatus("pyfeat", True, str(pyfeat_cache()), "weights in py-feat's own download cache", "")
        detail = f"no weights imported and {missing[0]} is not in py-feat's cache or $HF_HOME"
        return BackendStatus("pyfeat", False, summary["folder"], detail, how, not_installed)
    # Installed but refused (damaged, incomplete, another py-feat version, a generated test set).
    unusable = (
        "py-feat's model weights on this server cannot be used; an administrator imports them again with"
        " `python -m facs_core models import BUNDLE.tar` (`python -m facs_core models list` says why)"
    )
    return BackendStatus("pyfeat", False, summary["folder"], summary["detail"], how, unusable)


_CHECKS = {"mediapipe": _mediapipe, "pyfeat": _pyfeat}


def backend_status(backend: str) -> BackendStatus | None:
    """Readiness of one backend by name; None for a name that is no backend."""
    check = _CHECKS.get(backend)
    return check() if check else None


def backend_statuses() -> list[BackendStatus]:
    """Readiness of every extraction backend, in :func:`facs_core.backends.base.backend_names` order."""
    return [check() for check in _CHECKS.values()]
