"""The daemon's bursts: frames arrive one by one, a camera's burst is decided once it is quiet.

Like the :class:`~blurwatch.backlog.Backlog` it is driven by the clock the caller passes
(``now``, monotonic seconds) and starts nothing itself. Each scored shot is remembered
in the state database (:meth:`blurwatch.state.StateDB.record_frame`) with its camera's
burst open. Once no new frame from that camera (folder, camera, clock) arrived for
``burst.quiet_seconds``, the open frames, the frames taken within ``burst.gap_seconds``
of them and every frame of a group those belong to are grouped again by the burst stage
(:mod:`blurwatch.burst_stage`), which rewrites the sidecars whose group changed. So a
late frame reopens its burst and may move the pick: the old pick's sidecar is rewritten
without it. A restart keeps the groups, and frames still open are decided after it.

Writing a frame's sidecar needs its per-photo verdict, which is kept in memory for the
last :data:`REMEMBERED` shots. A frame decided again after a restart (or long after it
was scored) is judged again first: :meth:`BurstTracker.decide` asks for those jobs,
and decides once their outcomes are in.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from blurwatch import burst_stage
from blurwatch.burst_stage import Applied, Shot
from blurwatch.config import Config
from blurwatch.job import Outcome
from blurwatch.state import Stamp, StateDB, StoredFrame

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # shots whose per-photo verdict stays in memory (some 4 kB each)
Run = tuple[str, str, str]  # folder, camera, clock: frames only ever group within one


def run_of(frame: StoredFrame) -> Run:
    return str(frame.photo.parent), frame.capture.camera, frame.capture.clock


class BurstTracker:
    """Open bursts per camera, decided when quiet (see the module's docstring)."""

    def __init__(self, state: StateDB, config: Config, now: float) -> None:
        self.state = state
        self.config = config
        self._shots: OrderedDict[Path, Shot] = OrderedDict()
        self._open: dict[Run, float] = {}  # run -> when its last frame arrived
        self._waiting: set[Path] = set()  # shots asked to be judged again
        for frame in state.open_frames() if config.burst.enabled else ():  # left open by the last run
            self._open[run_of(frame)] = now

    def add(self, outcome: Outcome, now: float) -> None:
        """A shot's outcome, recorded: it opens (or keeps open) its camera's burst."""
        shot = Shot.of(outcome)
        if shot is None or not self.config.burst.enabled:
            return
        self._waiting.discard(shot.photo)
        self._shots[shot.photo] = shot
        self._shots.move_to_end(shot.photo)
        while len(self._shots) > REMEMBERED:
            self._shots.popitem(last=False)
        self.state.record_frame(shot.job.photos, shot.capture, shot.recorded)
        frame = StoredFrame(shot.job.photos, shot.capture, shot.recorded, True)
        self._open[run_of(frame)] = now

    def next_due(self) -> float | None:
        """When the next open burst may be decided (monotonic); None when none is open."""
        if not self._open:
            return None
        return min(self._open.values()) + self.config.burst.quiet_seconds

    def decide(self, now: float, rejudge: Callable[[tuple[Path, ...]], None]) -> list[Applied]:
        """Decide every burst whose camera has been quiet; shots not in memory are handed to ``rejudge``."""
        applied: list[Applied] = []
        for run, last in list(self._open.items()):
            if now - last < self.config.burst.quiet_seconds:
                continue
            frames = self._affected(run)
            missing = [f for f in frames if f.photo not in self._shots]
            if missing:
                for frame in missing:
                    if frame.photo not in self._waiting:
                        self._waiting.add(frame.photo)
                        rejudge(frame.photos)
                self._open[run] = now  # decided once they are back
                continue
            del self._open[run]
            applied += self._apply([self._shots[f.photo] for f in frames])
        return applied

    def _apply(self, shots: list[Shot]) -> list[Applied]:
        groups = burst_stage.group(shots, self.config)
        applied = burst_stage.apply(shots, groups, self.config)
        written = [a for a in applied if not a.errors]
        for a in written:  # before closing: a stop in between leaves the frames open, to be decided again
            self.state.revise(a.shot.job.photos, a.result.verdict.decision, a.result.verdict.reasons)
        self.state.close_frames({a.shot.photo: a.group for a in written})
        for a in written:  # what the sidecar records now is what the next decision starts from
            self._shots[a.shot.photo] = Shot(a.shot.job, a.shot.result, a.shot.capture, a.group)
        for g in groups:
            log.info("%s: %s of %d frames, %s %s", g.photos[0].parent, g.kind, len(g.photos),
                     "best" if g.kind == "burst" else "base exposure", g.best.name)
        return applied

    def _affected(self, run: Run) -> list[StoredFrame]:
        """The open frames of ``run``, every frame within the gap of them, and whole groups those touch.

        The time span grows until no group reaches beyond it. Frames whose photo is gone
        are forgotten.
        """
        gap = self.config.burst.gap_seconds
        opened = [f for f in self.state.open_frames() if run_of(f) == run]
        if not opened:
            return []
        like = opened[0]
        start, end = opened[0].capture.taken - gap, opened[-1].capture.taken + gap
        while True:
            frames = {f.photo: f for f in self.state.frames_between(like, start, end)}
            for group_id in {f.group.id for f in frames.values() if f.group is not None}:
                frames.update((f.photo, f) for f in self.state.frames_in_group(group_id))
            taken = [f.capture.taken for f in frames.values()]
            wider = min(start, min(taken) - gap), max(end, max(taken) + gap)
            if wider == (start, end):
                break
            start, end = wider
        gone = [photo for photo in frames if Stamp.of(photo) is None]
        self.state.forget_frames(gone)
        return sorted((f for f in frames.values() if f.photo not in gone), key=lambda f: f.capture.taken)
