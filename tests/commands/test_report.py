"""``blurwatch report``: the page written from the sidecars, by the real program."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurwatch import sidecar
from blurwatch.config import SidecarConfig
from blurwatch.sharpness import default_model_dir
from helpers.cli import blurwatch
from helpers.photos import make_photo
from helpers.results import photo_result

requires_model = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)


@requires_model
def test_the_report_command(tmp_path: Path) -> None:
    """With the shipped model's thresholds; a photo without a verdict is listed too."""
    shoot = tmp_path / "shoot"
    culled = make_photo(shoot / "a.jpg")
    sidecar.write_verdict(culled, photo_result(culled, "reject", ("blurry",)), SidecarConfig())
    make_photo(shoot / "b.jpg", seed=1)
    done = blurwatch("report", shoot, "-o", tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (tmp_path / "cull.html").resolve().as_uri()
    assert f"blurwatch: wrote {tmp_path / 'cull.html'} and its thumbnails in {tmp_path / 'cull.html.d'}/" in done.stderr
    page = (tmp_path / "cull.html").read_text(encoding="utf-8")
    assert page.count('<article class="card"') == 2 and "not culled yet" in page
    unculled = tmp_path / "unculled"
    make_photo(unculled / "c.jpg")
    nothing = blurwatch("report", unculled, cwd=unculled, timeout=120)  # `report .` in a fresh folder
    assert nothing.returncode == 2 and "no report written" in nothing.stderr
    assert [p.name for p in unculled.iterdir()] == ["c.jpg"]
    gone = blurwatch("report", tmp_path / "gone", timeout=120)
    assert gone.returncode == 2 and gone.stderr.strip().endswith("no such file or folder: " + str(tmp_path / "gone"))
