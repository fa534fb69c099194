"""The worker pool: jobs carried to worker processes and outcomes back; crashes, bugs and stops survived.

The pool's own tests run a stand-in task defined in this module (worker processes import
it by name): it crashes, fails, waits or logs as the photo's name says, marks when it
starts, and leaves a note of its pid and configuration beside the photo. What the real
task does with a photo is tested in process, in tests/test_job.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from blurwatch import sidecar
from blurwatch.config import Config
from blurwatch.job import Job, Outcome
from blurwatch.pipeline import Models
from blurwatch.sharpness import default_model_dir
from blurwatch.workers import WorkerBug, WorkerPool
from helpers.photos import make_photo

requires_model = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)
pytestmark = requires_model

WAIT = 30.0  # generous ceiling for anything that should take well under a second


# ---------------------------------------------------------------- the task run inside the workers


def stand_in_task(job: Job, config: Config, models: Models, progress: Callable[[], None]) -> Outcome:
    """Crashes, fails, waits or logs as the photo's name says; notes its pid and sensitivity."""
    photo = job.photos[0]
    name = photo.name
    photo.with_name(name + ".started").touch()
    if name.startswith("segfault"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("bug"):
        raise KeyError("a bug in the worker")
    if name.startswith("gated"):  # waits until the test creates <photo>.go
        wait_for(photo.with_name(name + ".go"))
    if name.startswith("slow"):
        time.sleep(0.3)
    if name.startswith("logs"):
        logging.getLogger("blurwatch.tests").warning("%s: hello from pid %s", photo, os.getpid())
    if name.startswith("stages"):  # progress, then a hang until released
        progress()
        wait_for(photo.with_name(name + ".go"))
    note = {"pid": os.getpid(), "sensitivity": config.sensitivity}
    photo.with_name(name + ".seen").write_text(json.dumps(note), encoding="utf-8")
    return Outcome(job, None)


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def seen(photo: Path) -> dict[str, Any]:
    """What the stand-in task noted when it ran ``photo``."""
    note: dict[str, Any] = json.loads(photo.with_name(photo.name + ".seen").read_text(encoding="utf-8"))
    return note


def jobs_named(folder: Path, *names: str) -> list[Job]:
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


# ---------------------------------------------------------------- the real job


def test_the_pool_runs_the_real_job(tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"IMG_{i}.jpg", seed=i) for i in range(3)]
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in photos}
    with WorkerPool(Config(), jobs=2) as pool:
        outcomes = {o.job.photos[0]: o for o in pool.map_unordered(Job((p,)) for p in [*photos, cut])}
        assert pool.pending() == 0
    assert set(outcomes) == {*photos, cut}
    for photo in photos:
        outcome = outcomes[photo]
        assert outcome.result is not None and outcome.errors == {}
        assert outcome.timings["decode"] > 0 and outcome.timings["network"] > 0
        stored = sidecar.read_verdict(photo)
        assert stored is not None and stored.verdict == outcome.result.verdict.decision
    assert outcomes[cut].result is None and outcomes[cut].error_for(cut).startswith(f"{cut}: ")
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in photos} == before  # never write into an original


# ---------------------------------------------------------------- crashes, bugs, stops


def test_a_segfaulting_worker_costs_one_job_and_is_replaced(tmp_path: Path) -> None:
    jobs = jobs_named(tmp_path, "a.jpg", "segfault.nef", "b.jpg", "c.jpg", "segfault2.nef", "d.jpg")
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        outcomes = {o.job.photos[0].name: o for o in pool.map_unordered(jobs)}
    assert set(outcomes) == {job.photos[0].name for job in jobs}
    for name in ("segfault.nef", "segfault2.nef"):
        assert outcomes[name].errors == {tmp_path / name: f"{tmp_path / name}: decoder crashed (killed by signal 11)"}
        assert outcomes[name].result is None
    pids = {seen(tmp_path / name)["pid"] for name in ("a.jpg", "b.jpg", "d.jpg")}
    assert len(pids) == 3  # a new worker after each crash, one worker at a time
    assert seen(tmp_path / "b.jpg")["pid"] == seen(tmp_path / "c.jpg")["pid"]
    assert all(outcomes[name].errors == {} for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"))


def test_a_bug_in_a_worker_is_raised_in_the_parent_with_its_traceback(tmp_path: Path) -> None:
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        assert pool.submit(jobs_named(tmp_path, "bug.jpg")[0])
        with pytest.raises(WorkerBug) as raised:
            pool.get(timeout=WAIT)
    text = str(raised.value)
    assert f"{tmp_path}/bug.jpg" in text and "KeyError: 'a bug in the worker'" in text
    assert "stand_in_task" in text  # the worker's traceback, not just the message


def test_the_inbox_is_bounded(tmp_path: Path) -> None:
    first, waiting, refused = jobs_named(tmp_path, "gated1.jpg", "b.jpg", "c.jpg")
    with WorkerPool(Config(), jobs=1, inbox_size=1, task=stand_in_task) as pool:
        assert pool.submit(first, timeout=WAIT)
        wait_for(tmp_path / "gated1.jpg.started")  # the worker holds it: the inbox is empty again
        assert pool.submit(waiting, timeout=WAIT)
        assert not pool.submit(refused, timeout=0.2)
        assert pool.pending() == 2
        (tmp_path / "gated1.jpg.go").touch()
        done = [pool.get(timeout=WAIT), pool.get(timeout=WAIT)]
        assert [o.job for o in done if o is not None] == [first, waiting]
        assert pool.pending() == 0
        assert pool.get(timeout=0.05) is None


def test_close_waits_for_work_in_progress_within_grace(tmp_path: Path) -> None:
    with WorkerPool(Config(), jobs=2, task=stand_in_task) as pool:
        for job in jobs_named(tmp_path, "slow1.jpg", "slow2.jpg"):
            pool.submit(job)
        for name in ("slow1.jpg", "slow2.jpg"):
            wait_for(tmp_path / f"{name}.started")
        assert pool.close(grace=WAIT) == []
        finished = [pool.get(timeout=0), pool.get(timeout=0)]
    assert all(o is not None and o.errors == {} for o in finished)


def test_close_abandons_what_did_not_finish_and_leaves_no_process(tmp_path: Path) -> None:
    jobs = jobs_named(tmp_path, "gated1.jpg", "gated2.jpg", "later.jpg")
    pool = WorkerPool(Config(), jobs=2, task=stand_in_task)
    pids = [w.process.pid for w in pool._workers]
    for job in jobs:
        assert pool.submit(job)
    for name in ("gated1.jpg", "gated2.jpg"):  # in the workers; "later" waits in the inbox
        wait_for(tmp_path / f"{name}.started")
    started = time.monotonic()
    abandoned = pool.close(grace=0.5)
    assert 0.5 <= time.monotonic() - started < 0.5 + WAIT
    assert sorted(j.photos[0].name for j in abandoned) == ["gated1.jpg", "gated2.jpg", "later.jpg"]
    assert pool.pending() == 0
    assert not any(pid_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(jobs[0])


def test_reload_applies_to_jobs_not_started_yet(tmp_path: Path) -> None:
    first, second = jobs_named(tmp_path, "gated1.jpg", "b.jpg")
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        pool.submit(first)
        wait_for(tmp_path / "gated1.jpg.started")  # it started with the old configuration
        pool.submit(second)
        pool.reload(Config(sensitivity=0.5))
        (tmp_path / "gated1.jpg.go").touch()
        assert {o.job for o in (pool.get(timeout=WAIT), pool.get(timeout=WAIT)) if o} == {first, second}
    assert seen(first.photos[0])["sensitivity"] == 0.0
    assert seen(second.photos[0])["sensitivity"] == 0.5


def test_worker_log_records_reach_the_parent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        list(pool.map_unordered(jobs_named(tmp_path, "logs.jpg")))
    pid = seen(tmp_path / "logs.jpg")["pid"]
    assert f"{tmp_path}/logs.jpg: hello from pid {pid}" in caplog.text
    assert pid != os.getpid()


def test_what_a_decoder_prints_on_stderr_is_logged_naming_the_photo(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """Real libpng: a text chunk with a bad checksum makes it print a warning that names no file."""
    caplog.set_level(logging.INFO, logger="blurwatch")
    png = tmp_path / "noisy.png"
    data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 96), dtype=np.uint8))[1].tobytes()
    bad_chunk = struct.pack(">I", 5) + b"tEXt" + b"a\x00bcd" + b"\x00" * 4  # a wrong CRC
    png.write_bytes(data[:33] + bad_chunk + data[33:])  # after the signature and IHDR
    with WorkerPool(Config(), jobs=1) as pool:
        [outcome] = pool.map_unordered([Job((png,), dry_run=True)])
    assert outcome.result is not None
    assert f"{png}: the decoder says: libpng warning: tEXt: CRC error" in caplog.text
    bare = [line for line in capfd.readouterr().err.splitlines() if line.startswith("libpng")]
    assert bare == []  # no line on the terminal that names no file


def test_a_busy_workers_silence_is_measured_from_its_last_progress(tmp_path: Path) -> None:
    """What the daemon feeds the systemd watchdog by: a hung worker's silence grows, a working one's does not."""
    with WorkerPool(Config(), jobs=1, task=stand_in_task) as pool:
        assert pool.silence() == (0.0, None)
        [job] = jobs_named(tmp_path, "stages.jpg")
        pool.submit(job)
        wait_for(tmp_path / "stages.jpg.started")
        time.sleep(0.5)
        quiet, busy = pool.silence()
        assert busy == job and 0.3 < quiet < WAIT
        (tmp_path / "stages.jpg.go").touch()
        assert pool.get(timeout=WAIT) is not None
        assert pool.silence() == (0.0, None)
