"""``blurwatch calibrate``: a user's own rejects set the sensitivity, written to their config."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml

from blurwatch import config as config_mod
from blurwatch import sidecar
from blurwatch.commands import calibrate
from blurwatch.config import SidecarConfig
from blurwatch.exposure import Exposure
from conftest import requires_shared
from helpers.cli import blurwatch
from helpers.results import LIMITS, photo_result

NEUTRAL = Exposure(mean_ev=0.0, clipped=0.0, crushed=0.0, shadows=20, highlights=230, median=118, dark=0.01,
                   overexposed=0.01)
BASE = LIMITS

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


def _agreement(line: str) -> float:
    """Balanced agreement from a printed line: "... rejects 90% of your rejects, 10% of your keepers"."""
    caught, kept_rejected = map(int, re.findall(r"(\d+)%", line))
    return (caught + 100 - kept_rejected) / 2


@requires_shared
@pytest.mark.shared
@pytest.mark.slow
def test_calibrate_writes_the_sensitivity_that_agrees_with_the_user(shared_data, tmp_path):
    shoot = tmp_path / "shoot"
    _judged_folder(shared_data, shoot, kept=12, rejected=10)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shoot.iterdir()}
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = blurwatch("calibrate", str(shoot), "--jobs", "2", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "22 photos you judged: 10 rejected, 12 kept" in done.stdout
    written = tmp_path / "config" / "blurwatch" / "config.yaml"
    value = yaml.safe_load(written.read_text())["sensitivity"]
    assert config_mod.from_file(written).sensitivity == value
    now, calibrated = (line for line in done.stdout.splitlines() if " sensitivity " in line)
    assert f"calibrated sensitivity {value:+.2f}:" in calibrated
    assert _agreement(calibrated) >= _agreement(now)  # never agrees less than the default did
    # Scoring wrote nothing: the person's sidecars and photos are as they were, nothing was added.
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shoot.iterdir()} == before


@requires_shared
@pytest.mark.shared
def test_calibrate_refuses_too_few_judgements(shared_data, tmp_path):
    _judged_folder(shared_data, tmp_path / "shoot", kept=5, rejected=2)
    done = blurwatch("calibrate", str(tmp_path / "shoot"), env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
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


def _judged(scores_rejected: list[float], scores_kept: list[float]) -> list[calibrate.Judged]:
    judged = [calibrate.Judged(photo_result(score=score, exposure=NEUTRAL), True) for score in scores_rejected]
    return judged + [calibrate.Judged(photo_result(score=score, exposure=NEUTRAL), False) for score in scores_kept]


def test_a_strict_person_gets_the_mildest_sensitivity_that_agrees_fully() -> None:
    # Rejecting below 0.5 means moving reject_below from 0.3 past 0.45 but not past 0.55,
    # 0.65 to 1.05 logits: sensitivity 0.65 to 1.0 all agree fully; the mildest is chosen.
    judged = _judged([0.1, 0.2, 0.35, 0.4, 0.45], [0.55, 0.6, 0.7, 0.9])
    assert calibrate.choose_sensitivity(judged, BASE) == pytest.approx(0.65)


def test_a_lenient_person_gets_a_negative_sensitivity() -> None:
    # Keeping 0.2 and up means moving reject_below from 0.3 to between 0.1 and 0.2, -1.35
    # to -0.54 logits: sensitivity -0.55 to -1.0 (its bound); the mildest is chosen.
    judged = _judged([0.05, 0.1], [0.2, 0.25, 0.28, 0.5, 0.8])
    assert calibrate.choose_sensitivity(judged, BASE) == pytest.approx(-0.55)


def test_a_person_who_agrees_already_keeps_sensitivity_zero() -> None:
    judged = _judged([0.1, 0.2], [0.7, 0.8, 0.9])
    assert calibrate.choose_sensitivity(judged, BASE) == 0.0


def test_only_ratings_a_person_set_are_judgements(tmp_path: Path) -> None:
    rated, darktable, scored, bare = (tmp_path / f"{name}.jpg" for name in ("rated", "darktable", "scored", "bare"))
    for photo in (rated, darktable, scored, bare):
        photo.write_bytes(b"")
    Path(f"{rated}.xmp").write_text(USER_SIDECAR.format(rating=1), encoding="utf-8")
    Path(f"{darktable}.xmp").write_text(USER_SIDECAR.format(rating=1).replace(
        'xmp:Rating="1"', 'xmp:Rating="1" xmlns:darktable="http://darktable.sf.net/" darktable:xmp_version="5"'),
        encoding="utf-8")
    sidecar.write_verdict(scored, photo_result(scored, "reject"), SidecarConfig())
    assert calibrate._human_judgements([rated, darktable, scored, bare]) == {rated: False}


def test_jobs_must_be_positive_and_has_a_short_form(tmp_path: Path) -> None:
    done = blurwatch("calibrate", str(tmp_path), "--jobs", "-1")
    assert done.returncode == 2 and "must be 1 or more" in done.stderr and "Traceback" not in done.stderr
    assert "-j N, --jobs N" in blurwatch("calibrate", "--help").stdout
