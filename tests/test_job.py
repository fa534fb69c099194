"""The per-photo job, in this process: decode, judge, write; a pair judged once; errors per photo."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from blurwatch import pipeline, sidecar, xmp
from blurwatch.bursts import Membership
from blurwatch.config import BurstConfig, Config, SidecarConfig
from blurwatch.errors import Busy
from blurwatch.job import STEPS, Job, Outcome, run_job, run_sequential
from blurwatch.pipeline import Models
from blurwatch.sharpness import default_model_dir
from helpers.dng import write_dng
from helpers.photos import make_photo, warm_cool

pytestmark = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def truncated_jpeg(path: Path) -> Path:
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)  # a JPEG cut off after its first bytes
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """IMG_0001.jpg and IMG_0001.dng: the JPEG first, as discovery groups them."""
    return make_photo(tmp_path / "IMG_0001.jpg"), write_dng(tmp_path / "IMG_0001.dng", warm_cool(),
                                                            preview_long_side=600)


def test_a_dry_run_judges_and_writes_nothing(tmp_path: Path, models: Models) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    outcome = run_job(Job((photo,), dry_run=True), Config(), models)
    assert outcome.result is not None and outcome.result.path == photo
    assert outcome.errors == {} and outcome.sidecars == ()
    assert set(outcome.timings) == set(STEPS) and outcome.timings["decode"] > 0
    assert sorted(tmp_path.iterdir()) == [photo]


def test_a_job_writes_its_verdict_and_leaves_the_photo_alone(tmp_path: Path, models: Models) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    before = sha256(photo)
    outcome = run_job(Job((photo,)), Config(), models)
    assert outcome.result is not None and outcome.errors == {}
    assert list(outcome.sidecars) == sidecar.sidecar_paths(photo, "darktable")
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.verdict == outcome.result.verdict.decision
    assert sha256(photo) == before
    again = run_job(Job((photo,)), Config(), models)  # nothing new: not a byte changes
    assert again.sidecars == outcome.sidecars and sidecar.read_verdict(photo) == stored


def test_a_pair_falls_back_to_the_raw_and_both_get_the_verdict(tmp_path: Path, pair: tuple[Path, Path],
                                                               models: Models) -> None:
    jpeg, raw = truncated_jpeg(pair[0]), pair[1]
    outcome = run_job(Job((jpeg, raw)), Config(), models)
    assert outcome.errors == {}, outcome.errors
    assert outcome.result is not None and outcome.result.decoded_from.startswith("raw")
    assert {p.name for p in outcome.sidecars} == {"IMG_0001.jpg.xmp", "IMG_0001.dng.xmp"}


def test_a_pair_is_judged_once_from_its_jpeg(pair: tuple[Path, Path], models: Models) -> None:
    outcome = run_job(Job(pair), Config(), models)
    assert outcome.result is not None and outcome.result.decoded_from == "jpeg"
    jpeg, raw = (sidecar.read_verdict(photo) for photo in pair)
    assert jpeg is not None and raw is not None and (jpeg.verdict, jpeg.sharpness) == (raw.verdict, raw.sharpness)


def test_an_adobe_named_pair_shares_one_sidecar_written_once(tmp_path: Path, pair: tuple[Path, Path],
                                                             models: Models) -> None:
    config = Config(sidecar=SidecarConfig(naming="adobe"))
    outcome = run_job(Job(pair), config, models)
    assert outcome.errors == {}, outcome.errors
    assert outcome.sidecars == (tmp_path / "IMG_0001.xmp",)
    assert sidecar.read_verdict(pair[0], "adobe") is not None
    # Lightroom pairs IMG_0001.xmp with the RAW: the verdict there is recorded as the RAW's
    assert [(m.photo, m.sidecar.name) for m in outcome.merges] == [(pair[1], "IMG_0001.xmp")]
    assert xmp.read(tmp_path / "IMG_0001.xmp").fields[sidecar.PHOTO_KEY] == pair[1].name


def test_a_sidecar_that_cannot_be_merged_fails_that_photo_only(tmp_path: Path, pair: tuple[Path, Path],
                                                               models: Models) -> None:
    jpeg, raw = pair
    broken = tmp_path / "IMG_0001.dng.xmp"
    broken.write_text("this is not XMP", encoding="utf-8")
    outcome = run_job(Job(pair), Config(), models)
    assert outcome.result is not None
    assert outcome.sidecars == (tmp_path / "IMG_0001.jpg.xmp",)
    assert outcome.error_for(jpeg) is None
    error = outcome.error_for(raw)
    assert error is not None and error.startswith(f"{raw}: {broken}: ") and "\n" not in error
    assert broken.read_text(encoding="utf-8") == "this is not XMP"


def test_an_undecodable_photo_is_one_line_naming_it(tmp_path: Path, models: Models) -> None:
    photo = truncated_jpeg(tmp_path / "cut.jpg")
    outcome = run_job(Job((photo,)), Config(), models)
    assert outcome.result is None and outcome.sidecars == ()
    error = outcome.error_for(photo)
    assert error is not None and error.startswith(f"{photo}: ") and "\n" not in error
    assert sorted(tmp_path.iterdir()) == [photo]


def test_a_pair_that_cannot_be_decoded_at_all_fails_both_photos_with_one_line(tmp_path: Path,
                                                                             models: Models) -> None:
    jpeg, raw = truncated_jpeg(tmp_path / "IMG_0001.jpg"), tmp_path / "IMG_0001.dng"
    raw.write_bytes(b"II*\x00" + b"\0" * 100)
    outcome = run_job(Job((jpeg, raw)), Config(), models)
    assert outcome.result is None and set(outcome.errors) == {jpeg, raw}
    assert outcome.error_for(jpeg) == outcome.error_for(raw) and outcome.error_for(raw).startswith(f"{raw}: ")


def test_the_sequential_runner_gives_each_outcome_in_order(tmp_path: Path, models: Models) -> None:
    photos = [make_photo(tmp_path / f"{name}.jpg", seed=i) for i, name in enumerate("cab")]
    jobs = [Job((photo,), dry_run=True) for photo in photos]
    outcomes = list(run_sequential(jobs, Config(), models))
    assert [o.job for o in outcomes] == jobs and all(o.result is not None for o in outcomes)


def test_a_failed_outcome_names_the_error_for_every_photo() -> None:
    job = Job((Path("/p/a.jpg"), Path("/p/a.nef")))
    outcome = Outcome.failed(job, "/p/a.nef: decoder crashed (killed by signal 11)")
    assert outcome.result is None and outcome.sidecars == ()
    assert [outcome.error_for(photo) for photo in job.photos] == ["/p/a.nef: decoder crashed (killed by signal 11)"] * 2
    assert outcome.error_for(Path("/p/other.jpg")) is None


def test_a_photo_replaced_while_it_was_judged_gets_no_sidecar(tmp_path: Path, models: Models,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdict is about the file that was read: a copy landing meanwhile waits for its own."""
    photo = make_photo(tmp_path / "a.jpg")
    judge = pipeline.judge

    def judge_while_a_copy_lands(*args):
        judged = judge(*args)
        make_photo(tmp_path / "new.jpg", seed=3).replace(photo)  # same name, another file
        return judged

    monkeypatch.setattr(pipeline, "judge", judge_while_a_copy_lands)
    outcome = run_job(Job((photo,)), Config(), models)
    error = outcome.error_for(photo)
    assert error == (f"{photo}: changed while blurwatch judged it (replaced, or still being written); no sidecar "
                     "written, as the verdict is about the file that was read")
    assert outcome.retry == {photo} and outcome.sidecars == ()
    assert not sidecar.sidecar_paths(photo, "darktable")[0].exists()


def test_a_busy_sidecar_may_pass_and_says_so(tmp_path: Path, models: Models,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    busy = Busy(tmp_path / "a.jpg.xmp", "was saved, or open for writing, by another program each of the 4 times ...")

    def always_busy(*args, **kwargs):
        raise busy

    monkeypatch.setattr(sidecar, "merge_verdict", always_busy)
    outcome = run_job(Job((photo,)), Config(), models)
    assert outcome.retry == {photo} and outcome.error_for(photo) == f"{photo}: {busy}"


def test_a_job_reports_progress_after_each_stage(pair: tuple[Path, Path], models: Models) -> None:
    """Decoded, judged, and one per photo written: what keeps the systemd watchdog fed through a long job."""
    stages: list[int] = []
    run_job(Job(pair), Config(), models, progress=lambda: stages.append(1))
    assert len(stages) == 4


def test_with_bursts_turned_off_a_frame_leaves_its_group(tmp_path: Path, models: Models) -> None:
    photo = make_photo(tmp_path / "IMG_1.jpg")
    config = Config()
    first = run_job(Job((photo,)), config, models)
    sidecar.write_verdict(photo, first.result, config.sidecar, group=Membership("burst", "IMG_0-1", 3, False))

    kept = run_job(Job((photo,)), config, models)
    off = run_job(Job((photo,)), config.replace(burst=BurstConfig(enabled=False)), models)

    assert kept.group == Membership("burst", "IMG_0-1", 3, False) and kept.capture is not None
    assert off.group is None and off.capture is None
    assert sidecar.read_verdict(photo).group is None
