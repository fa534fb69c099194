"""The commands' shared fixture: one real ``--once`` run over copies of the team's photos."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from blurwatch.sharpness import default_model_dir
from conftest import SHARED_DATA
from helpers.cli import blurwatch, build_folder

Culled = tuple[Path, subprocess.CompletedProcess[str], dict[str, str]]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.suffix != ".xmp"}


@pytest.fixture(scope="session")
def real_photos_and_model() -> None:
    """Skip unless the team's photos and the shipped model are both there."""
    if not (SHARED_DATA / "photos" / "manifest.csv").is_file():
        pytest.skip(f"the team's real photos are not at {SHARED_DATA}")
    if not (default_model_dir() / "sharpness.json").is_file():
        pytest.skip("the shipped sharpness model is not built yet")


@pytest.fixture(scope="session")
def culled(real_photos_and_model: None, tmp_path_factory: pytest.TempPathFactory) -> Culled:
    """(folder, the run, the originals' digests before it): ``--once --json --report`` with a broken RAW."""
    folder = tmp_path_factory.mktemp("cli") / "photos"
    build_folder(folder, with_broken=True)
    before = digests(folder)
    done = blurwatch("--once", folder, "--json", "--jobs", "2", "--report", folder.parent / "cull.html")
    return folder, done, before
