"""``blurwatch calibrate``: a user's own rejects set the sensitivity, written to their config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blurwatch import config as config_mod
from blurwatch.commands import calibrate
from conftest import requires_shared

USER_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}"/>
 </rdf:RDF>
</x:xmpmeta>
"""


def _judged_folder(shared: Path, folder: Path, kept: int, rejected: int) -> None:
    """Copies of real photos with the ratings a person gave them in darktable."""
    folder.mkdir()
    choices = [("sharp", 1, kept), ("blurry_natural", -1, rejected)]
    for label, rating, count in choices:
        for source in sorted((shared / "photos" / label).iterdir())[:count]:
            target = folder / source.name
            shutil.copyfile(source, target)
            Path(f"{target}.xmp").write_text(USER_SIDECAR.format(rating=rating), encoding="utf-8")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blurwatch", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


@requires_shared
@pytest.mark.shared
@pytest.mark.slow
def test_calibrate_writes_the_sensitivity_that_agrees_with_the_user(shared_data, tmp_path):
    _judged_folder(shared_data, tmp_path / "shoot", kept=12, rejected=10)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = _run("calibrate", str(tmp_path / "shoot"), "--jobs", "2", env=env)
    assert done.returncode == 0, done.stderr
    assert "22 photos you judged: 10 rejected, 12 kept" in done.stdout
    written = tmp_path / "config" / "blurwatch" / "config.yaml"
    value = yaml.safe_load(written.read_text())["sensitivity"]
    assert -1.0 <= value <= 1.0
    assert config_mod.from_file(written).sensitivity == value
    assert not list((tmp_path / "shoot").glob("*.blurwatch*")), "calibrate must not write sidecars"


@requires_shared
@pytest.mark.shared
def test_calibrate_refuses_too_few_judgements(shared_data, tmp_path):
    _judged_folder(shared_data, tmp_path / "shoot", kept=5, rejected=2)
    done = _run("calibrate", str(tmp_path / "shoot"), env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    assert done.returncode == 2
    assert "needs at least 20 photos you rated" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_writing_keeps_the_rest_of_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("# my settings\nsensitivity: 0.0  # default\njobs: 2\n", encoding="utf-8")
    config = config_mod.from_file(path)
    calibrate.write_sensitivity(config, 0.35)
    text = path.read_text()
    assert text.startswith("# my settings\n") and "jobs: 2" in text
    assert config_mod.from_file(path).sensitivity == 0.35
