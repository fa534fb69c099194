"""The daemon's backlog: a photo's way from the watcher's first event to its recorded outcome.

Like the :class:`~blurwatch.watcher.Settler` it holds, it is driven by the clock the
caller passes in (``now``, monotonic seconds) and starts nothing itself: no thread, no
process, no decode. The daemon feeds it events and outcomes and hands its jobs to the
worker pool; tests feed it files in a temp folder and outcomes made by hand.

* Changed files wait in the settler until quiet; a folder scan offers the photos not
  yet done with this model. A photo with a job in flight waits for its outcome.
* Settled files become jobs (a RAW+JPEG pair is one), unless the state database has
  them done already; jobs wait in order until the pool accepts them.
* An outcome is recorded per photo, in the state database, before anybody logs it: so
  after a crash a photo is either recorded (and skipped) or scored again, never half
  done. A photo that changed while it was scored was perhaps read half old, half new:
  its outcome is void and it settles again.
* A photo that fails right after it stopped changing may be a copy that paused. It is
  held, retried if it changes, and reported (once: its state row keeps it from being
  reported again) only when it has been unchanged for ``settle_seconds``.
* A photo whose failure may pass by itself (its sidecar was saved by another program
  each time blurwatch merged into it, or the photo was replaced while it was judged:
  :attr:`~blurwatch.job.Outcome.retry`) is tried again ``settle_seconds`` later, up to
  :data:`RETRY_ROUNDS` times. Then it is reported but not recorded, so the next change
  of the photo or the next start of the daemon tries it again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from blurwatch import discovery
from blurwatch.errors import shown
from blurwatch.job import Job, Outcome
from blurwatch.state import Stamp, StateDB
from blurwatch.watcher import Kind, Settled, Settler

log = logging.getLogger(__name__)

# How many times a photo whose failure may pass is tried again before it is reported.
RETRY_ROUNDS = 3


@dataclass(frozen=True)
class Recorded:
    """One photo's outcome, committed to the state database: a verdict, or the error reported."""

    photo: Path
    decision: str | None  # keep / review / reject; None for an error
    reasons: tuple[str, ...]
    error: str | None
    seconds: float  # the job's time in the worker
    again: bool = False  # judged again for its burst (:meth:`Backlog.recall`): not a new verdict


@dataclass(frozen=True)
class _Hold:
    """A photo that failed while it may still be arriving: reported if unchanged until ``since + settle``."""

    stamp: Stamp
    since: float
    error: str


class Backlog:
    """Photos between their first event and their recorded outcome (see the module's docstring)."""

    def __init__(self, state: StateDB, model_version: str, quiet_seconds: float, settle_seconds: float) -> None:
        self.state = state
        self.model_version = model_version
        self.settle_seconds = settle_seconds
        self.settler = Settler(quiet_seconds)
        self._queue: deque[Job] = deque()  # settled, not yet accepted by the pool
        self._jobs: dict[Job, dict[Path, Settled]] = {}  # in the queue or in the pool
        self._busy: set[Path] = set()  # photos of those jobs; their events wait for the outcome
        self._recalled: set[Job] = set()  # jobs of :meth:`recall`: photos done already, judged for their burst
        self._holds: dict[Path, _Hold] = {}
        self._retry_at: dict[Path, float] = {}  # photos to try again at that time (monotonic)
        self._rounds: dict[Path, int] = {}  # how often each of those has been tried again so far

    def __len__(self) -> int:
        """Photos waiting: to settle, for the pool, held after a failure or to be tried again (not in the pool)."""
        return len(self.settler) + len(self._queue) + len(self._holds) + len(self._retry_at)

    @property
    def in_flight(self) -> bool:
        """Whether any job is queued or in the pool."""
        return bool(self._jobs)

    def configure(self, quiet_seconds: float, settle_seconds: float) -> None:
        self.settler.quiet_seconds = quiet_seconds
        self.settle_seconds = settle_seconds

    # What comes in.

    def changed(self, path: Path, kind: Kind, now: float) -> None:
        """A watcher event for a photo (not a folder: the daemon scans those)."""
        self._holds.pop(path, None)
        self._retry_at.pop(path, None)
        if kind == "gone":
            self.settler.forget(path)
        elif path not in self._busy:  # a busy photo's stamp is checked when its outcome comes
            self.settler.changed(path, now, closed=kind == "closed")

    def found(self, groups: Iterable[discovery.Group], now: float, wanted: Callable[[Path], bool]) -> None:
        """A folder scan: photos not done with this model wait to be quiet, like new ones."""
        for group in groups:
            if all(self._done(photo, Stamp.of(photo)) for photo in group):
                continue
            for photo in group:
                if photo not in self._busy and photo not in self._holds and photo not in self._retry_at \
                        and wanted(photo):
                    self.settler.found(photo, now)

    # Jobs out, outcomes in.

    def queue_settled(self, now: float) -> None:
        """Turn the files that are quiet now into jobs, skipping those done already."""
        settled = {item.path: item for item in self.settler.settled(now)}
        for group in discovery.group(settled):
            if all(self._done(photo, settled[photo].stamp) for photo in group):
                log.debug("%s: unchanged since it was scored", shown(group[0]))
                continue
            job = Job(group)
            self._queue.append(job)
            self._jobs[job] = {photo: settled[photo] for photo in group}
            self._busy.update(group)

    def recall(self, photos: tuple[Path, ...], now: float) -> None:
        """Judge a shot again although it is done: the burst stage needs its verdict (a restart lost it).

        Nothing happens while one of its photos has a job in flight (that outcome will do),
        and photos that are gone are left out.
        """
        if any(photo in self._busy for photo in photos):
            return
        stamps = {photo: stamp for photo in photos if (stamp := Stamp.of(photo)) is not None}
        if not stamps:
            return
        job = Job(tuple(stamps))
        self._queue.append(job)
        self._jobs[job] = {photo: Settled(photo, stamp, now) for photo, stamp in stamps.items()}
        self._busy.update(stamps)
        self._recalled.add(job)

    def hand_out(self, offer: Callable[[Job], bool]) -> None:
        """Offer the queued jobs in order until ``offer`` refuses one (the pool is full)."""
        while self._queue and offer(self._queue[0]):
            self._queue.popleft()

    def give_back(self, jobs: Iterable[Job]) -> None:
        """Jobs a pool abandoned (it was rebuilt): first in the queue again."""
        self._queue.extendleft(reversed(list(jobs)))

    def record(self, outcome: Outcome, now: float) -> list[Recorded]:
        """Commit each photo's verdict (or hold or report its error); returns what was committed."""
        settled = self._jobs.pop(outcome.job)
        again = outcome.job in self._recalled
        self._recalled.discard(outcome.job)
        seconds = sum(outcome.timings.values())
        done: list[Recorded] = []
        for photo in outcome.job.photos:
            self._busy.discard(photo)
            stamp = Stamp.of(photo)
            error = outcome.error_for(photo)
            if stamp is None:
                log.debug("%s: gone before it could be scored", shown(photo))
            elif stamp != settled[photo].stamp:
                log.debug("%s: changed while being scored; scoring it again once it is quiet", shown(photo))
                self.settler.changed(photo, now)
            elif error is not None and photo in outcome.retry:
                done += self._try_again(photo, error, now)
            elif error is not None:
                done += self._failed(photo, settled[photo], error, now)
            elif outcome.result is not None:
                verdict = outcome.result.verdict
                self._rounds.pop(photo, None)
                self.state.record(photo, stamp, outcome.result.model_version, verdict.decision, verdict.reasons,
                                  seconds=seconds)
                done.append(Recorded(photo, verdict.decision, verdict.reasons, None, seconds, again))
        return done

    def release_holds(self, now: float) -> list[Recorded]:
        """Report the held photos that stayed unchanged for ``settle_seconds``; changed ones settle again.

        Photos due to be tried again settle again too.
        """
        for photo, due in list(self._retry_at.items()):
            if due <= now:
                del self._retry_at[photo]
                self.settler.changed(photo, now)
        done: list[Recorded] = []
        for photo, hold in list(self._holds.items()):
            if now - hold.since < self.settle_seconds:
                continue
            del self._holds[photo]
            stamp = Stamp.of(photo)
            if stamp == hold.stamp:
                done.append(self._report(photo, hold.stamp, hold.error))
            elif stamp is not None:
                self.settler.changed(photo, now)
        return done

    def next_due(self) -> float | None:
        """When a settled file or a held one may next need a look (monotonic); None when nothing waits."""
        due = [hold.since + self.settle_seconds for hold in self._holds.values()] + list(self._retry_at.values())
        settling = self.settler.next_due()
        if settling is not None:
            due.append(settling)
        return min(due, default=None)

    def _done(self, photo: Path, stamp: Stamp | None) -> bool:
        """Whether this version of the photo was scored, or reported broken, with this model."""
        return stamp is not None and self.state.is_done(photo, stamp, self.model_version)

    def _failed(self, photo: Path, settled: Settled, error: str, now: float) -> list[Recorded]:
        """Report an error at once if the file has been unchanged for settle_seconds, else hold it."""
        if now - settled.since >= self.settle_seconds:
            return [self._report(photo, settled.stamp, error)]
        log.debug("%s: failed (%s); waiting to see whether it is still arriving", shown(photo), error)
        self._holds[photo] = _Hold(settled.stamp, settled.since, error)
        return []

    def _try_again(self, photo: Path, error: str, now: float) -> list[Recorded]:
        """Try the photo again later, or report it when it has had its rounds (not recorded: see the docstring)."""
        rounds = self._rounds.get(photo, 0) + 1
        if rounds > RETRY_ROUNDS:
            del self._rounds[photo]
            return [Recorded(photo, None, (), f"{error}; tried {rounds} times, it is tried again when the photo "
                                              "changes or the daemon restarts", 0.0)]
        self._rounds[photo] = rounds
        self._retry_at[photo] = now + self.settle_seconds
        log.info("%s; trying again in %.0f s", error, self.settle_seconds)
        return []

    def _report(self, photo: Path, stamp: Stamp, error: str) -> Recorded:
        """A broken photo, reported once: the state row keeps it from being reported again."""
        self.state.record(photo, stamp, self.model_version, error=error)
        return Recorded(photo, None, (), error, 0.0)
