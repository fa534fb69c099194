"""Workers: real photos scored in worker processes; crashes, bugs and stops survived.

The crash tests kill a worker with a real SIGSEGV. They run a task defined in this
module (worker processes import it by name), standing in for a decoder that dies.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from blurwatch import sidecar
from blurwatch.config import Config, SidecarConfig
from blurwatch.sharpness import SharpnessModel, default_model_dir
from blurwatch.sidecar import read_verdict
from blurwatch.workers import Job, Outcome, WorkerBug, WorkerPool, process

from conftest import requires_shared, SHARED_DATA

requires_model = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)
pytestmark = requires_model

WAIT = 30.0  # generous ceiling for anything that should take well under a second


# ---------------------------------------------------------------- tasks run inside the workers


def stand_in_task(job: Job, config: Config, model: SharpnessModel) -> Outcome:
    """Crashes, fails, waits or logs as the photo's name says; otherwise reports its pid."""
    name = job.photos[0].name
    if name.startswith("segfault"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("bug"):
        raise KeyError("a bug in the worker")
    if name.startswith("gated"):  # waits until the test creates <photo>.go
        deadline = time.monotonic() + WAIT
        while not job.photos[0].with_name(name + ".go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if name.startswith("slow"):
        time.sleep(0.3)
    if name.startswith("logs"):
        logging.getLogger("blurwatch.tests").warning("%s: hello from pid %s", job.photos[0], os.getpid())
    return Outcome(job, None, (), None, {"pid": float(os.getpid()), "sensitivity": config.sensitivity})


def jobs_named(*names: str, folder: Path = Path("/nowhere")) -> list[Job]:
    return [Job((folder / name,)) for name in names]


def pid_alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


@pytest.fixture(autouse=True)
def no_leaks():
    """Every test must leave no worker process and no dispatcher thread behind."""
    yield
    assert multiprocessing.active_children() == []
    assert not [t for t in threading.enumerate() if t.name == "blurwatch-dispatcher"]


# ---------------------------------------------------------------- real photos


def copy_photos(shared: Path, dest: Path, *relpaths: str) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(shared / relpath, dest / Path(relpath).name)) for relpath in relpaths]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pick(label: str, count: int) -> list[str]:
    lines = (SHARED_DATA / "photos" / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [f"photos/{line.split(',')[0]}" for line in lines if line.split(",")[1] == label][:count]


@requires_shared
def test_process_in_process_dry_run_writes_nothing(tmp_path: Path, model: SharpnessModel) -> None:
    (photo,) = copy_photos(SHARED_DATA, tmp_path, *pick("sharp", 1))
    outcome = process(Job((photo,), dry_run=True), Config(), model)
    assert outcome.error is None and outcome.result is not None
    assert outcome.result.path == photo
    assert outcome.sidecars == ()
    assert set(outcome.timings) == {"decode", "score", "write"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [photo.name]


@requires_shared
def test_pool_scores_real_photos_and_writes_sidecars(tmp_path: Path) -> None:
    photos = copy_photos(SHARED_DATA, tmp_path, *pick("sharp", 2), *pick("blurry_natural", 2), *pick("dark", 1))
    before = {p: sha256(p) for p in photos}
    config = Config()
    with WorkerPool(config, jobs=2) as pool:
        outcomes = list(pool.map_unordered(Job((p,)) for p in photos))
        assert pool.pending() == 0
    assert sorted(o.job.photos[0] for o in outcomes) == sorted(photos)
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
        assert outcome.result is not None and outcome.result.verdict.decision in ("keep", "review", "reject")
        assert outcome.timings["decode"] > 0 and outcome.timings["score"] > 0
        (photo,) = outcome.job.photos
        assert list(outcome.sidecars) == sidecar.sidecar_paths(photo, config.sidecar.naming)
        stored = sidecar.read_verdict(photo, config.sidecar.naming)
        assert stored is not None and stored.verdict == outcome.result.verdict.decision
    assert {p: sha256(p) for p in photos} == before  # never write into an original


@requires_shared
def test_a_pair_falls_back_to_the_raw_and_both_get_the_verdict(tmp_path: Path) -> None:
    raw = Path(shutil.copy2(SHARED_DATA / "raw" / "DNG" / "tinydng__colorchart.dng", tmp_path / "IMG_0001.dng"))
    jpeg = tmp_path / "IMG_0001.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)  # a JPEG cut off after its first bytes
    with WorkerPool(Config(), jobs=1) as pool:
        (outcome,) = pool.map_unordered([Job((jpeg, raw))])
    assert outcome.error is None, outcome.error
    assert outcome.result is not None and outcome.result.decoded_from.startswith("raw")
    assert {p.name for p in outcome.sidecars} == {"IMG_0001.jpg.xmp", "IMG_0001.dng.xmp"}


@requires_shared
def test_an_adobe_named_pair_shares_one_sidecar_written_once(tmp_path: Path, model: SharpnessModel) -> None:
    jpeg = Path(shutil.copy2(SHARED_DATA / pick("sharp", 1)[0], tmp_path / "IMG_0001.jpg"))
    raw = Path(shutil.copy2(SHARED_DATA / "raw" / "DNG" / "tinydng__colorchart.dng", tmp_path / "IMG_0001.dng"))
    config = Config(sidecar=SidecarConfig(naming="adobe"))
    outcome = process(Job((jpeg, raw)), config, model)
    assert outcome.error is None, outcome.error
    assert outcome.sidecars == (tmp_path / "IMG_0001.xmp",)
    assert read_verdict(jpeg, "adobe") is not None


@requires_shared
def test_a_sidecar_that_cannot_be_written_fails_that_photo_only(tmp_path: Path, model: SharpnessModel) -> None:
    jpeg = Path(shutil.copy2(SHARED_DATA / pick("sharp", 1)[0], tmp_path / "IMG_0001.jpg"))
    raw = Path(shutil.copy2(SHARED_DATA / "raw" / "DNG" / "tinydng__colorchart.dng", tmp_path / "IMG_0001.dng"))
    broken = tmp_path / "IMG_0001.dng.xmp"
    broken.write_text("this is not XMP", encoding="utf-8")
    outcome = process(Job((jpeg, raw)), Config(), model)
    assert outcome.result is not None
    assert outcome.sidecars == (tmp_path / "IMG_0001.jpg.xmp",)
    assert outcome.error_for(jpeg) is None
    error = outcome.error_for(raw)
    assert error is not None and error.startswith(f"{raw}: {broken}: ") and "\n" not in error
    assert broken.read_text(encoding="utf-8") == "this is not XMP"


@requires_shared
def test_an_undecodable_photo_is_an_error_line_naming_it(tmp_path: Path) -> None:
    (stub,) = copy_photos(SHARED_DATA, tmp_path, "raw/NEF/exiftool__Nikon.nef")
    with WorkerPool(Config(), jobs=1) as pool:
        (outcome,) = pool.map_unordered([Job((stub,))])
    assert outcome.result is None and outcome.sidecars == ()
    assert outcome.error is not None and outcome.error.startswith(f"{stub}: ")
    assert "\n" not in outcome.error
    assert list(tmp_path.iterdir()) == [stub]


# ---------------------------------------------------------------- crashes, bugs, stops


def test_a_segfaulting_worker_costs_one_job_and_is_replaced() -> None:
    jobs = jobs_named("a.jpg", "segfault.nef", "b.jpg", "c.jpg", "segfault2.nef", "d.jpg")
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        outcomes = {o.job.photos[0].name: o for o in pool.map_unordered(jobs)}
    assert set(outcomes) == {job.photos[0].name for job in jobs}
    for name in ("segfault.nef", "segfault2.nef"):
        assert outcomes[name].error == f"/nowhere/{name}: decoder crashed (killed by signal 11)"
        assert outcomes[name].result is None
    pids = {outcomes[name].timings["pid"] for name in ("a.jpg", "b.jpg", "d.jpg")}
    assert len(pids) == 3  # a new worker after each crash, one worker at a time
    assert all(outcomes[name].error is None for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"))


def test_a_bug_in_a_worker_is_raised_in_the_parent_with_its_traceback() -> None:
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        assert pool.submit(jobs_named("bug.jpg")[0])
        with pytest.raises(WorkerBug) as raised:
            pool.get(timeout=WAIT)
    text = str(raised.value)
    assert "/nowhere/bug.jpg" in text and "KeyError: 'a bug in the worker'" in text
    assert "stand_in_task" in text  # the worker's traceback, not just the message


def test_the_inbox_is_bounded(tmp_path: Path) -> None:
    first, waiting, refused = jobs_named("gated1.jpg", "b.jpg", "c.jpg", folder=tmp_path)
    with WorkerPool(Config(), jobs=1, inbox_size=1, task=stand_in_task) as pool:
        assert pool.submit(first, timeout=WAIT)
        assert pool.submit(waiting, timeout=WAIT)  # once the worker took the first, there is room
        assert not pool.submit(refused, timeout=0.2)
        assert pool.pending() == 2
        (tmp_path / "gated1.jpg.go").touch()
        done = [pool.get(timeout=WAIT), pool.get(timeout=WAIT)]
        assert [o.job for o in done] == [first, waiting]
        assert pool.pending() == 0
        assert pool.get(timeout=0.05) is None


def test_close_waits_for_work_in_progress_within_grace() -> None:
    with WorkerPool(Config(), jobs=2, task=stand_in_task) as pool:
        for job in jobs_named("slow1.jpg", "slow2.jpg"):
            pool.submit(job)
        time.sleep(0.1)  # both handed out
        assert pool.close(grace=WAIT) == []
        finished = [pool.get(timeout=0), pool.get(timeout=0)]
    assert all(o is not None and o.error is None for o in finished)


def test_close_abandons_what_did_not_finish_and_leaves_no_process(tmp_path: Path) -> None:
    jobs = jobs_named("gated1.jpg", "gated2.jpg", "later.jpg", folder=tmp_path)
    pool = WorkerPool(Config(), jobs=2, task=stand_in_task)
    pids = [w.process.pid for w in pool._workers]
    for job in jobs:
        assert pool.submit(job)
    time.sleep(0.3)  # the two gated jobs are in the workers, "later" waits in the inbox
    started = time.monotonic()
    abandoned = pool.close(grace=0.5)
    assert 0.5 <= time.monotonic() - started < 0.5 + WAIT
    assert sorted(j.photos[0].name for j in abandoned) == ["gated1.jpg", "gated2.jpg", "later.jpg"]
    assert pool.pending() == 0
    assert not any(pid_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(jobs[0])


def test_reload_applies_to_jobs_not_started_yet(tmp_path: Path) -> None:
    first, second = jobs_named("gated1.jpg", "b.jpg", folder=tmp_path)
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        pool.submit(first)
        time.sleep(0.2)  # the first job has started with the old configuration
        pool.submit(second)
        pool.reload(Config(sensitivity=0.5))
        (tmp_path / "gated1.jpg.go").touch()
        done = {o.job: o for o in (pool.get(timeout=WAIT), pool.get(timeout=WAIT))}
    assert done[first].timings["sensitivity"] == 0.0
    assert done[second].timings["sensitivity"] == 0.5


def test_worker_log_records_reach_the_parent(caplog: pytest.LogCaptureFixture) -> None:
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        (outcome,) = pool.map_unordered(jobs_named("logs.jpg"))
    pid = int(outcome.timings["pid"])
    assert f"/nowhere/logs.jpg: hello from pid {pid}" in caplog.text
    assert pid != os.getpid()
