"""``blurwatch score``: the per-photo job as a dry run, printed for a person or as JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from blurwatch import cli
from blurwatch.commands import score
from blurwatch.config import Config
from blurwatch.job import Job, run_job
from blurwatch.pipeline import Models
from blurwatch.sidecar import Merged
from conftest import SHARED_DATA
from helpers.cli import RAW_STUB, blurwatch, manifest
from helpers.results import photo_result

real_photos = pytest.mark.usefixtures("real_photos_and_model")


@real_photos
def test_score_prints_the_verdict_and_why(tmp_path: Path) -> None:
    photo = Path(shutil.copy2(SHARED_DATA / manifest("dark", 1)[0], tmp_path / "dark.jpg"))
    as_json = blurwatch("score", "--json", photo)
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["path"] == str(photo) and result["verdict"] in ("keep", "review", "reject")
    text = blurwatch("score", photo)
    assert text.stdout.startswith(f"{photo}: {result['verdict']}")
    assert "sharpness" in text.stdout and "EV" in text.stdout
    assert sorted(tmp_path.iterdir()) == [photo]


@real_photos
def test_score_is_the_once_job_as_a_dry_run(tmp_path: Path, models: Models,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    photo = Path(shutil.copy2(SHARED_DATA / manifest("sharp", 1)[0], tmp_path / "sharp.jpg"))
    assert score.run(cli.parse_args(["score", str(photo), "--json"]), Config()) == 0
    printed = json.loads(capsys.readouterr().out)
    outcome = run_job(Job((photo,), dry_run=True), Config(), models)
    assert outcome.result is not None
    assert printed == outcome.result.to_json() | {"rating": outcome.result.rating, "rating_is_manual": False}
    assert sorted(tmp_path.iterdir()) == [photo]


def test_a_missing_file_is_a_typo_not_a_moved_photo(tmp_path: Path) -> None:
    done = blurwatch("score", tmp_path / "nonexist.jpg")
    assert done.returncode == 2 and done.stderr == f"blurwatch: {tmp_path / 'nonexist.jpg'}: no such file\n"


def test_the_rating_shown_is_the_one_once_would_leave() -> None:
    result = photo_result(Path("/p/a.jpg"), "reject", ("blurry",))
    kept = Merged(Path("/p/a.jpg"), Path("/p/a.jpg.xmp"), True, 3, True, ("Rating",))
    assert "  rating     3 (set by hand, kept; --force would write -1)" in score.describe(result, kept).splitlines()
    assert "  rating     -1" in score.describe(result).splitlines()


@real_photos
def test_score_of_an_undecodable_file_is_one_line_and_status_1(tmp_path: Path) -> None:
    stub = Path(shutil.copy2(SHARED_DATA / RAW_STUB, tmp_path / "stub.nef"))
    done = blurwatch("score", stub)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"blurwatch: {stub}: ")

