"""Weight bundles for machines without internet: export from a hub, import, refuse what is wrong.

The generated weight set stands in for the hub: :class:`tests.hub_mirror.HubMirror`
serves it on 127.0.0.1 and ``HF_ENDPOINT`` points ``models export`` there, so
the export downloads through huggingface_hub exactly as from the real hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from facs_core.pyfeat_weights import MANIFEST, REQUIRED_WEIGHTS, pack_folder
from tests.hub_mirror import HubMirror

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "FACS_PYFEAT"))}
    environment.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "facs_core", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


@pytest.fixture(scope="module")
def bundle(pyfeat_fake_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle exported through huggingface_hub from a local hub serving the generated set."""
    folder = tmp_path_factory.mktemp("export")
    mirror = HubMirror(pyfeat_fake_weights)
    try:
        env = {"HF_ENDPOINT": mirror.endpoint, "HF_HOME": str(folder / "hf-home")}
        done = _cli("models", "export", "pyfeat", "--out", str(folder / "bundle.tar"), env=env)
    finally:
        mirror.close()
    assert done.returncode == 0, done.stderr[-2000:]
    downloaded = {r.split()[1] for r in mirror.requests if r.startswith("GET /py-feat/")}
    assert len(downloaded) == len(REQUIRED_WEIGHTS)  # every file came from the hub
    return folder / "bundle.tar"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    import io

    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _tree(folder: Path) -> dict[str, int]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_export_then_import_installs_the_exact_files(bundle: Path, pyfeat_fake_weights: Path, tmp_path: Path) -> None:
    members = _members(bundle)
    manifest = json.loads(members[MANIFEST])
    assert manifest["fake"] is False and manifest["py_feat_version"]
    for entry in manifest["files"]:
        source = next((pyfeat_fake_weights / f"models--{entry['repo'].replace('/', '--')}").rglob(entry["file"]))
        packed = next(
            data for name, data in members.items() if name.endswith(f"/snapshots/{entry['revision']}/{entry['file']}")
        )
        assert packed == source.read_bytes()  # byte for byte what the hub served

    target = tmp_path / "models"
    env = {"FACS_PYFEAT_DIR": str(target)}
    done = _cli("models", "import", str(bundle), env=env)
    assert done.returncode == 0, done.stderr
    assert "sha256 verified" in done.stdout
    listing = _cli("models", "list", env=env)
    line = next(line for line in listing.stdout.splitlines() if line.startswith("pyfeat"))
    assert line.split()[1] == "ready" and str(target) in line
    # Importing again replaces the set in place, leaving no scratch folder behind.
    assert _cli("models", "import", str(bundle), env=env).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def _refusal(bundle_path: Path, target: Path) -> str:
    before = _tree(target)
    done = _cli("models", "import", str(bundle_path), env={"FACS_PYFEAT_DIR": str(target)})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert _tree(target) == before  # nothing installed, nothing changed
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []  # no scratch left
    return lines[0]


def test_import_refuses_fake_damaged_incomplete_and_mismatched_bundles(
    bundle: Path, pyfeat_fake_weights: Path, tmp_path: Path
) -> None:
    target = tmp_path / "installed" / "models"
    target.parent.mkdir()
    members = _members(bundle)
    manifest = json.loads(members[MANIFEST])
    big = max((n for n in members if n != MANIFEST), key=lambda n: len(members[n]))

    fake = pack_folder(pyfeat_fake_weights, tmp_path / "fake.tar")
    assert "generated test weights (marked fake)" in _refusal(fake, target)

    damaged = dict(members)
    data = bytearray(damaged[big])
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    damaged[big] = bytes(data)
    assert "is damaged" in _refusal(_write_tar(tmp_path / "damaged.tar", damaged), target)

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 3])
    message = _refusal(truncated, target)
    assert "damaged" in message or "incomplete" in message

    pose = next(n for n in members if n.endswith("pose_mlp_v2.json"))
    incomplete = {k: v for k, v in members.items() if k != pose}
    assert "incomplete" in _refusal(_write_tar(tmp_path / "incomplete.tar", incomplete), target)

    unlisted = {**members, MANIFEST: json.dumps({**manifest, "files": manifest["files"][:-1]}).encode()}
    assert "incomplete" in _refusal(_write_tar(tmp_path / "unlisted.tar", unlisted), target)

    older = {**members, MANIFEST: json.dumps({**manifest, "py_feat_version": "0.6.0"}).encode()}
    assert "py-feat 0.6.0" in _refusal(_write_tar(tmp_path / "older.tar", older), target)

    escaping = {**members, "../outside.txt": b"x"}
    assert "outside the bundle" in _refusal(_write_tar(tmp_path / "escaping.tar", escaping), target)
    assert not (tmp_path / "installed" / "outside.txt").exists()

    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("not a tar file\n")
    assert "not a tar file" in _refusal(not_tar, target)

    # A good bundle still installs after all of that, and a refusal then leaves it in place.
    assert _cli("models", "import", str(bundle), env={"FACS_PYFEAT_DIR": str(target)}).returncode == 0
    assert "py-feat 0.6.0" in _refusal(_write_tar(tmp_path / "older.tar", older), target)


def test_export_from_an_unreachable_hub_fails_in_one_line(tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf-home")}
    done = _cli("models", "export", "pyfeat", "--out", str(tmp_path / "bundle.tar"), env=env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "the hub cannot be reached" in lines[0], done.stderr
    assert not (tmp_path / "bundle.tar").exists()
