"""The daemon's bursts on a made-up clock: frames arrive one by one, late, and across a restart.

Photos are small files in a temp folder (only their sidecars are written); outcomes are
made by hand, as the worker pool would hand them back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from blurwatch import sidecar
from blurwatch.burst_tracker import BurstTracker
from blurwatch.capture import Capture
from blurwatch.config import BurstConfig, Config
from blurwatch.job import Job, Outcome
from blurwatch.state import Activity, Stamp, StateDB
from helpers.results import photo_result

QUIET = 5.0
CONFIG = Config(burst=BurstConfig(quiet_seconds=QUIET))
T0 = 1000.0
LIKENESS = "c3b1e0f08e8f0f0f"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB.in_dir(tmp_path / "state") as db:
        yield db


def frame(folder: Path, name: str, taken: float, sharpness: float) -> Outcome:
    """A scored frame of one camera; its outcome records the group its sidecar holds (as the job reports)."""
    photo = folder / f"{name}.jpg"
    if not photo.exists():
        photo.write_bytes(b"a photo")
    stored = sidecar.read_verdict(photo)
    return Outcome(Job((photo,)), photo_result(photo, "keep", score=sharpness, rating=None),
                   capture=Capture("Canon R6 #1", taken, "exif", LIKENESS), group=stored.group if stored else None)


def groups_in(folder: Path) -> dict[str, tuple[str, int, bool, str]]:
    """name -> (group id, size, best, verdict), as the sidecars say."""
    found = {}
    for photo in sorted(folder.glob("*.jpg")):
        stored = sidecar.read_verdict(photo)
        if stored is not None and stored.group is not None:
            found[photo.stem] = (stored.group.id, stored.group.size, stored.group.best, stored.verdict)
    return found


def no_rejudging(photos: tuple[Path, ...]) -> None:
    raise AssertionError(f"{photos} should still be in memory")


def test_a_burst_is_decided_once_its_camera_is_quiet(tmp_path: Path, state: StateDB) -> None:
    tracker = BurstTracker(state, CONFIG, T0)
    tracker.add(frame(tmp_path, "a1", 0.0, 0.4), T0)
    tracker.add(frame(tmp_path, "a2", 0.2, 0.9), T0 + 1)

    assert tracker.decide(T0 + 1 + QUIET - 0.1, no_rejudging) == []
    assert tracker.next_due() == T0 + 1 + QUIET
    applied = tracker.decide(T0 + 1 + QUIET, no_rejudging)

    assert {a.shot.photo.stem: a.group.best for a in applied if a.group} == {"a1": False, "a2": True}
    found = groups_in(tmp_path)
    assert found["a1"][1:] == (2, False, "review") and found["a2"][1:] == (2, True, "keep")
    assert tracker.next_due() is None


def test_the_state_holds_the_verdicts_the_sidecars_hold_after_the_burst(tmp_path: Path, state: StateDB) -> None:
    tracker = BurstTracker(state, CONFIG, T0)
    for i, sharpness in enumerate([0.4, 0.9]):
        shot = frame(tmp_path, f"a{i + 1}", i * 0.2, sharpness)
        state.record(shot.job.photos[0], Stamp.of(shot.job.photos[0]), "m1", "keep")  # as the backlog does
        tracker.add(shot, T0)

    tracker.decide(T0 + QUIET, no_rejudging)

    assert state.activity(0.0) == Activity({"keep": 1, "review": 1}, 0)  # what `blurwatch status` counts


def test_a_late_frame_reopens_its_burst_and_moves_the_pick(tmp_path: Path, state: StateDB) -> None:
    tracker = BurstTracker(state, CONFIG, T0)
    for i, sharpness in enumerate([0.4, 0.9]):
        tracker.add(frame(tmp_path, f"a{i + 1}", i * 0.2, sharpness), T0)
    tracker.decide(T0 + QUIET, no_rejudging)

    tracker.add(frame(tmp_path, "a3", 0.4, 0.98), T0 + 20)  # copied in late, sharper still
    tracker.decide(T0 + 20 + QUIET, no_rejudging)

    found = groups_in(tmp_path)
    assert len({group_id for group_id, *_ in found.values()}) == 1
    assert {name: (size, best, verdict) for name, (_, size, best, verdict) in found.items()} == {
        "a1": (3, False, "review"), "a2": (3, False, "review"), "a3": (3, True, "keep")}


def test_a_restart_keeps_the_groups_and_judges_again_what_a_late_frame_needs(tmp_path: Path,
                                                                              state: StateDB) -> None:
    tracker = BurstTracker(state, CONFIG, T0)
    for i, sharpness in enumerate([0.4, 0.9]):
        tracker.add(frame(tmp_path, f"a{i + 1}", i * 0.2, sharpness), T0)
    tracker.decide(T0 + QUIET, no_rejudging)
    before = groups_in(tmp_path)

    restarted = BurstTracker(state, CONFIG, T0 + 100)  # memory gone, the database kept
    assert restarted.next_due() is None
    restarted.add(frame(tmp_path, "a3", 0.4, 0.5), T0 + 100)
    asked: list[tuple[Path, ...]] = []
    assert restarted.decide(T0 + 100 + QUIET, asked.append) == []
    assert sorted(p.stem for photos in asked for p in photos) == ["a1", "a2"]
    for i, sharpness in enumerate([0.4, 0.9]):  # the jobs the backlog ran again
        restarted.add(frame(tmp_path, f"a{i + 1}", i * 0.2, sharpness), T0 + 101)
    restarted.decide(T0 + 101 + QUIET, no_rejudging)

    found = groups_in(tmp_path)
    assert {name: found[name][1:3] for name in found} == {"a1": (3, False), "a2": (3, True), "a3": (3, False)}
    assert found["a1"][0] == before["a1"][0]  # the same first frame: the same group id


def test_frames_left_open_by_a_stop_are_decided_after_the_start(tmp_path: Path, state: StateDB) -> None:
    tracker = BurstTracker(state, CONFIG, T0)
    for i, sharpness in enumerate([0.4, 0.9]):
        tracker.add(frame(tmp_path, f"a{i + 1}", i * 0.2, sharpness), T0)

    restarted = BurstTracker(state, CONFIG, T0 + 50)

    assert restarted.next_due() == T0 + 50 + QUIET
    asked: list[tuple[Path, ...]] = []
    restarted.decide(T0 + 50 + QUIET, asked.append)
    assert len(asked) == 2
