"""The daemon's backlog on a made-up clock: no process, no photo decoded, no ../shared data.

Files are small ones in a temp folder (the backlog looks only at their size and mtime);
outcomes are made by hand, as the worker pool would hand them back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from blurwatch.backlog import RETRY_ROUNDS, Backlog, Recorded
from blurwatch.job import Job, Outcome
from blurwatch.state import Stamp, StateDB
from helpers.results import photo_result

QUIET = 1.0
SETTLE = 30.0
MODEL = "test-model-1"  # what helpers.results writes into its results
T0 = 1000.0  # the made-up monotonic clock starts here


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB.in_dir(tmp_path / "state") as db:
        yield db


@pytest.fixture
def backlog(state: StateDB) -> Backlog:
    return Backlog(state, MODEL, QUIET, SETTLE)


def photo(folder: Path, name: str, content: bytes = b"a photo") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def arrive(backlog: Backlog, *paths: Path, at: float = T0) -> None:
    """The photos were copied in (closed after writing) at ``at``."""
    for path in paths:
        backlog.changed(path, "closed", at)


def jobs_out(backlog: Backlog, now: float, room: int = 100) -> list[Job]:
    """The jobs the pool accepts at ``now``, when it has room for ``room`` more."""
    backlog.queue_settled(now)
    taken: list[Job] = []

    def offer(job: Job) -> bool:
        if len(taken) == room:
            return False
        taken.append(job)
        return True

    backlog.hand_out(offer)
    return taken


def kept(job: Job) -> Outcome:
    return Outcome(job, photo_result(job.photos[0], "keep"), timings={"decode": 0.25, "score": 0.5})


def failed(job: Job) -> Outcome:
    return Outcome.failed(job, f"{job.photos[-1]}: truncated JPEG")


def test_a_quiet_photo_becomes_one_job_and_its_verdict_is_recorded(tmp_path: Path, backlog: Backlog,
                                                                   state: StateDB) -> None:
    new = photo(tmp_path, "a.jpg")
    arrive(backlog, new)
    assert jobs_out(backlog, T0 + 0.1) == []  # not quiet yet
    (job,) = jobs_out(backlog, T0 + QUIET)
    assert job == Job((new,)) and backlog.in_flight
    assert backlog.record(kept(job), T0 + 2) == [Recorded(new, "keep", (), None, 0.75)]
    assert state.is_done(new, Stamp.of(new), MODEL) and not backlog.in_flight and len(backlog) == 0


def test_a_raw_jpeg_pair_is_one_job_jpeg_first(tmp_path: Path, backlog: Backlog) -> None:
    raw, jpeg = photo(tmp_path, "IMG_1.CR2"), photo(tmp_path, "IMG_1.JPG")
    arrive(backlog, raw, jpeg)
    assert jobs_out(backlog, T0 + QUIET) == [Job((jpeg, raw))]


def test_jobs_wait_in_order_until_the_pool_takes_them(tmp_path: Path, backlog: Backlog) -> None:
    photos = [photo(tmp_path, f"{name}.jpg") for name in "abc"]
    arrive(backlog, *photos)
    assert jobs_out(backlog, T0 + QUIET, room=1) == [Job((photos[0],))]
    assert len(backlog) == 2  # waiting for the pool
    assert jobs_out(backlog, T0 + QUIET + 0.1) == [Job((photos[1],)), Job((photos[2],))]


def test_a_photo_done_with_this_model_is_not_scored_again(tmp_path: Path, backlog: Backlog, state: StateDB) -> None:
    done = photo(tmp_path, "a.jpg")
    state.record(done, Stamp.of(done), MODEL, "keep")
    arrive(backlog, done)  # touched, say, but not changed
    assert jobs_out(backlog, T0 + QUIET) == []
    backlog.found([(done,)], T0, wanted=lambda path: True)
    assert len(backlog) == 0


def test_a_scan_offers_what_is_not_done_and_wanted(tmp_path: Path, backlog: Backlog, state: StateDB) -> None:
    done, new, unwanted = (photo(tmp_path, name) for name in ("done.jpg", "new.jpg", "skip.jpg"))
    for path in (done, new):
        os.utime(path, (0, 0))  # a scan takes files as quiet since their mtime: long ago
    state.record(done, Stamp.of(done), "an older model", "keep")  # another model: scored again
    backlog.found([(done,), (new,), (unwanted,)], T0, wanted=lambda path: path != unwanted)
    assert len(backlog) == 2
    assert sorted(job.photos[0].name for job in jobs_out(backlog, T0)) == ["done.jpg", "new.jpg"]


def test_a_photo_changed_while_scored_settles_again(tmp_path: Path, backlog: Backlog, state: StateDB) -> None:
    changing = photo(tmp_path, "a.jpg")
    arrive(backlog, changing)
    (job,) = jobs_out(backlog, T0 + QUIET)
    changing.write_bytes(b"the rest of the photo")  # the copy went on
    assert backlog.record(kept(job), T0 + 2) == []
    assert not state.is_done(changing, Stamp.of(changing), MODEL)
    assert jobs_out(backlog, T0 + 2 + QUIET) == [Job((changing,))]


def test_events_for_a_photo_in_flight_wait_for_its_outcome(tmp_path: Path, backlog: Backlog) -> None:
    busy = photo(tmp_path, "a.jpg")
    arrive(backlog, busy)
    (job,) = jobs_out(backlog, T0 + QUIET)
    arrive(backlog, busy, at=T0 + 1.5)  # its event is not a second job
    assert jobs_out(backlog, T0 + 5) == []
    assert [r.photo for r in backlog.record(kept(job), T0 + 6)] == [busy]


def test_a_failure_right_after_arriving_is_held_then_reported_once(tmp_path: Path, backlog: Backlog,
                                                                   state: StateDB) -> None:
    broken = photo(tmp_path, "a.jpg")
    arrive(backlog, broken)
    (job,) = jobs_out(backlog, T0 + QUIET)
    assert backlog.record(failed(job), T0 + 2) == []  # it may be a copy that paused
    assert len(backlog) == 1 and backlog.next_due() == T0 + SETTLE
    assert backlog.release_holds(T0 + SETTLE - 1) == []
    assert backlog.release_holds(T0 + SETTLE) == [Recorded(broken, None, (), f"{broken}: truncated JPEG", 0.0)]
    assert state.is_done(broken, Stamp.of(broken), MODEL)  # so it is never reported again
    assert backlog.release_holds(T0 + 2 * SETTLE) == [] and len(backlog) == 0


def test_a_held_photo_that_changes_is_tried_again_not_reported(tmp_path: Path, backlog: Backlog) -> None:
    arriving = photo(tmp_path, "a.jpg")
    arrive(backlog, arriving)
    (job,) = jobs_out(backlog, T0 + QUIET)
    backlog.record(failed(job), T0 + 2)
    arriving.write_bytes(b"the whole photo at last")
    arrive(backlog, arriving, at=T0 + 3)  # the event drops the hold
    assert jobs_out(backlog, T0 + 3 + QUIET) == [Job((arriving,))]
    assert backlog.release_holds(T0 + SETTLE + 10) == []


def test_a_failure_long_after_the_photo_settled_is_reported_at_once(tmp_path: Path, backlog: Backlog) -> None:
    old = photo(tmp_path, "a.jpg")
    os.utime(old, (0, 0))
    backlog.found([(old,)], T0, wanted=lambda path: True)
    (job,) = jobs_out(backlog, T0)
    assert [r.error for r in backlog.record(failed(job), T0 + 1)] == [f"{old}: truncated JPEG"]


def test_a_deleted_photo_is_forgotten(tmp_path: Path, backlog: Backlog) -> None:
    gone = photo(tmp_path, "a.jpg")
    arrive(backlog, gone)
    gone.unlink()
    backlog.changed(gone, "gone", T0 + 0.1)
    assert len(backlog) == 0 and jobs_out(backlog, T0 + QUIET) == []


def test_jobs_given_back_by_a_pool_come_first(tmp_path: Path, backlog: Backlog) -> None:
    first, second, third = (photo(tmp_path, f"{name}.jpg") for name in "abc")
    arrive(backlog, first, second, third)
    handed = jobs_out(backlog, T0 + QUIET, room=2)
    backlog.give_back(handed)  # the pool was rebuilt before it ran them
    assert jobs_out(backlog, T0 + QUIET + 0.1) == [*handed, Job((third,))]


def test_a_new_settle_time_applies_to_photos_held_already(tmp_path: Path, backlog: Backlog) -> None:
    broken = photo(tmp_path, "a.jpg")
    arrive(backlog, broken)
    (job,) = jobs_out(backlog, T0 + QUIET)
    backlog.record(failed(job), T0 + 2)
    backlog.configure(quiet_seconds=QUIET, settle_seconds=5.0)
    assert backlog.next_due() == T0 + 5.0
    assert len(backlog.release_holds(T0 + 5.0)) == 1


def busy(job: Job) -> Outcome:
    """Another program saved the photo's sidecar each time it was merged into."""
    error = f"{job.photos[0]}: {job.photos[0]}.xmp: was saved by another program each of the 4 times ..."
    return Outcome(job, photo_result(job.photos[0], "keep"), errors={job.photos[0]: error},
                   retry=frozenset(job.photos))


def test_a_photo_whose_failure_may_pass_is_tried_again_then_reported_unrecorded(tmp_path: Path, backlog: Backlog,
                                                                                 state: StateDB) -> None:
    new = photo(tmp_path, "a.jpg")
    arrive(backlog, new)
    now = T0 + QUIET
    for _ in range(RETRY_ROUNDS):
        (job,) = jobs_out(backlog, now)
        assert backlog.record(busy(job), now) == [] and len(backlog) == 1
        assert backlog.next_due() == now + SETTLE
        assert jobs_out(backlog, now + SETTLE - 1) == [] and backlog.release_holds(now + SETTLE - 1) == []
        now += SETTLE
        assert backlog.release_holds(now) == []
        now += QUIET
    (job,) = jobs_out(backlog, now)
    [reported] = backlog.record(busy(job), now)
    assert reported.error.endswith(f"; tried {RETRY_ROUNDS + 1} times, it is tried again when the photo changes or "
                                   "the daemon restarts")
    assert not state.is_done(new, Stamp.of(new), MODEL) and len(backlog) == 0  # a restart tries it again


def test_a_photo_tried_again_that_then_succeeds_is_recorded(tmp_path: Path, backlog: Backlog, state: StateDB) -> None:
    new = photo(tmp_path, "a.jpg")
    arrive(backlog, new)
    (job,) = jobs_out(backlog, T0 + QUIET)
    backlog.record(busy(job), T0 + QUIET)
    backlog.release_holds(T0 + QUIET + SETTLE)
    (job,) = jobs_out(backlog, T0 + 2 * QUIET + SETTLE)
    assert backlog.record(kept(job), T0 + 40) == [Recorded(new, "keep", (), None, 0.75)]
    assert state.is_done(new, Stamp.of(new), MODEL)


def test_a_photo_recalled_for_its_burst_is_recorded_as_judged_again(tmp_path: Path, backlog: Backlog,
                                                                    state: StateDB) -> None:
    frame = photo(tmp_path, "a.jpg")
    arrive(backlog, frame)
    (first,) = jobs_out(backlog, T0 + QUIET)
    assert [done.again for done in backlog.record(kept(first), T0 + 2)] == [False]

    backlog.recall((frame,), T0 + 10)  # a restart lost its verdict; the burst stage needs it
    (again,) = jobs_out(backlog, T0 + 10)
    assert again == Job((frame,))
    assert backlog.record(kept(again), T0 + 11) == [Recorded(frame, "keep", (), None, 0.75, again=True)]
    arrive(backlog, frame, at=T0 + 20)  # touched later: a new verdict, as usual
    assert jobs_out(backlog, T0 + 20 + QUIET) == []  # unchanged content: done already
