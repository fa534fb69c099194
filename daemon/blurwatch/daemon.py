"""The watch daemon: new photos in the watched folders get a verdict, once.

One main loop, in the main thread, owns everything that changes: it ``select``s on
the signal pipe and the watcher's inbox, moves quiet files from the
:class:`~blurwatch.watcher.Settler` to the :class:`~blurwatch.workers.WorkerPool`
(whose bounded inbox keeps decoded images few; waiting photos are only paths), and
records each outcome in the state database *before* logging it. So after a crash a
photo is either recorded (and skipped on restart) or scored again, never half done.

A photo that fails to decode right after it stopped changing may be a copy that
paused; it is held, retried if it changes, and reported (once) only when it has been
unchanged for ``watch.settle_seconds``.

Signal handlers only write the signal number to a pipe (:class:`SignalPipe`):
SIGTERM/SIGINT stop intake and give photos in progress ``watch.stop_grace_seconds``;
SIGHUP reloads the configuration and keeps the old one when the new one is bad.
systemd hears READY / RELOADING / STOPPING, and a watchdog ping from this loop only
while photos get done (or there is nothing to do).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from blurwatch import discovery, systemd
from blurwatch.config import Config
from blurwatch.errors import BlurwatchError, ConfigError, DaemonError
from blurwatch.sharpness import SharpnessModel
from blurwatch.state import DaemonStatus, StateDB, Stamp
from blurwatch.watcher import Settled, Settler, Watcher
from blurwatch.workers import Job, Outcome, WorkerPool, default_jobs

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0  # status row, systemd STATUS=, watcher health
BUSY_TICK = 0.05  # how often the loop looks for outcomes while photos are in progress
IDLE_TICK = 1.0
LOCK_NAME = "daemon.lock"

ConfigLoader = Callable[[], Config]


def run(config: Config, folders: Sequence[Path], reload_config: ConfigLoader) -> int:
    """Watch ``folders`` (or ``config.watch.folders``) until SIGTERM or SIGINT; returns 0.

    ``reload_config`` reads the configuration again the way the command line did
    (same file, same overrides); SIGHUP calls it.
    """
    state_dir = config.watch.state_path()
    with _single_instance(state_dir), StateDB.in_dir(state_dir) as state, SignalPipe() as signals:
        return Daemon(config, folders, reload_config, state, signals).run()


class SignalPipe:
    """Signal handlers that only write the signal's number to a pipe the main loop selects on."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous = {signum: signal.signal(signum, self._handler) for signum in self.SIGNALS}

    def __enter__(self) -> "SignalPipe":
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._read)
        os.close(self._write)

    def fileno(self) -> int:
        return self._read

    def take(self) -> list[int]:
        """The signals received since the last call, in order."""
        received = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._read, 64):
                received += chunk
        return list(received)

    def _handler(self, signum: int, frame: object) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, bytes([signum]))


@dataclass(frozen=True)
class _Hold:
    """A photo that failed while it may still be arriving: reported if unchanged until ``since + settle``."""

    stamp: Stamp
    since: float
    error: str


class _Watchdog:
    """systemd's watchdog, pinged only when the loop sees work move (or has none)."""

    def __init__(self, interval: float | None) -> None:
        self.every = interval / 2 if interval else None
        self.due = 0.0
        self.progress = True

    def tick(self, now: float, idle: bool) -> None:
        if self.every is None or now < self.due:
            return
        self.due = now + self.every
        if idle or self.progress:
            systemd.watchdog_ping()
        else:
            log.warning("no photo finished in the last %.0f s; not pinging the systemd watchdog", self.every)
        self.progress = False


class Daemon:
    """The main loop's state; :meth:`run` is the whole life of the daemon."""

    pool: WorkerPool  # both set by run()
    watcher: Watcher

    def __init__(self, config: Config, folders: Sequence[Path], reload_config: ConfigLoader,
                 state: StateDB, signals: SignalPipe) -> None:
        self.config = config
        self.cli_folders = tuple(folders)
        self.reload_config = reload_config
        self.state = state
        self.signals = signals
        self.model_version = SharpnessModel.load().version
        self.settler = Settler(config.watch.quiet_seconds)
        self.backlog: deque[Job] = deque()  # settled, not yet accepted by the pool
        self.jobs: dict[Job, dict[Path, Settled]] = {}  # in the backlog or in the pool
        self.busy: set[Path] = set()  # photos of those jobs; their events wait for the outcome
        self.holds: dict[Path, _Hold] = {}
        self.stopping = False
        self.started_at = time.time()
        self.scored = 0
        self.watchdog = _Watchdog(systemd.watchdog_interval())
        self.heartbeat_due = 0.0
        self.status_line = ""

    def run(self) -> int:
        folders = self._folders(self.config)
        with WorkerPool(self.config, default_jobs(self.config), self.config.watch.queue_size) as pool:
            self.pool = pool
            self.watcher = _start_watcher(folders, self.config)
            try:
                self._scan(folders, time.monotonic())
                self._write_status("watching")
                systemd.ready(self._status_text())
                log.info("%s: watching %d folder(s) with %s, model %s", ", ".join(map(str, folders)),
                         len(folders), self.watcher.kind, self.model_version)
                while not self.stopping:
                    self._tick()
                self._stop()
            finally:
                self.watcher.close()
        return 0

    # One turn of the loop.

    def _tick(self) -> None:
        readable, _, _ = select.select([self.signals, self.watcher.inbox], [], [], self._timeout())
        now = time.monotonic()
        if self.signals in readable:
            self._on_signals(self.signals.take())
        self._take_changes(now)
        self._queue_settled(now)
        self._submit()
        self._collect(now)
        self._release_holds(now)
        if now >= self.heartbeat_due:
            self._heartbeat(now)
        self.watchdog.tick(now, idle=not self.jobs)

    def _timeout(self) -> float:
        if self.jobs:
            return BUSY_TICK
        now = time.monotonic()
        due = [self.heartbeat_due, now + IDLE_TICK]
        due += [hold.since + self.config.watch.settle_seconds for hold in self.holds.values()]
        if (settling := self.settler.next_due()) is not None:
            due.append(settling)
        if self.watchdog.every:
            due.append(self.watchdog.due)
        return max(0.0, min(due) - now)

    def _take_changes(self, now: float) -> None:
        for path, kind in self.watcher.inbox.take().items():
            self.holds.pop(path, None)
            if kind == "gone":
                self.settler.forget(path)
            elif kind == "folder":
                self._scan([path], now)
            elif path not in self.busy:  # a busy photo's stamp is checked when its outcome comes
                self.settler.changed(path, now, closed=kind == "closed")

    def _scan(self, folders: Sequence[Path], now: float) -> None:
        """Catch up with a folder: photos not done with this model wait to be quiet, like new ones."""
        groups, errors = discovery.find_jobs(folders)
        for line in errors:
            log.error("%s", line)
        for group in groups:
            stamps = [Stamp.of(photo) for photo in group]
            if all(s is not None and self.state.is_done(p, s, self.model_version) for p, s in zip(group, stamps)):
                continue
            for photo in group:
                if photo not in self.busy and photo not in self.holds and self.watcher.inbox.wants(photo):
                    self.settler.found(photo, now)

    def _queue_settled(self, now: float) -> None:
        settled = {item.path: item for item in self.settler.settled(now)}
        for group in discovery.group(settled):
            if all(self.state.is_done(p, settled[p].stamp, self.model_version) for p in group):
                log.debug("%s: unchanged since it was scored", group[0])
                continue
            job = Job(group)
            self.backlog.append(job)
            self.jobs[job] = {photo: settled[photo] for photo in group}
            self.busy.update(group)

    def _submit(self) -> None:
        while self.backlog and self.pool.submit(self.backlog[0], timeout=0):
            self.backlog.popleft()

    def _collect(self, now: float) -> None:
        while (outcome := self.pool.get(timeout=0)) is not None:
            self._record(outcome, now)
            self.watchdog.progress = True

    def _record(self, outcome: Outcome, now: float) -> None:
        """Commit each photo's verdict (or hold or report its error), then log it.

        A photo that changed after it settled may have been read half old, half new:
        its outcome is void and it is scored again once quiet.
        """
        settled = self.jobs.pop(outcome.job)
        seconds = sum(outcome.timings.values())
        for photo in outcome.job.photos:
            self.busy.discard(photo)
            stamp = Stamp.of(photo)
            error = outcome.error_for(photo)
            if stamp is None:
                log.debug("%s: gone before it could be scored", photo)
            elif stamp != settled[photo].stamp:
                log.debug("%s: changed while being scored; scoring it again once it is quiet", photo)
                self.settler.changed(photo, now)
            elif error is not None:
                self._failed(photo, settled[photo], error, now)
            elif outcome.result is not None:
                verdict = outcome.result.verdict
                self.state.record(photo, stamp, outcome.result.model_version, verdict.decision, verdict.reasons,
                                  seconds=seconds)
                self.scored += 1
                reasons = f" ({', '.join(verdict.reasons)})" if verdict.reasons else ""
                log.info("%s: %s%s in %.2f s", photo, verdict.decision, reasons, seconds)

    def _failed(self, photo: Path, settled: Settled, error: str, now: float) -> None:
        """Report an error at once if the file has been unchanged for settle_seconds, else hold it."""
        if now - settled.since >= self.config.watch.settle_seconds:
            self._report(photo, settled.stamp, error)
        else:
            log.debug("%s: failed (%s); waiting to see whether it is still arriving", photo, error)
            self.holds[photo] = _Hold(settled.stamp, settled.since, error)

    def _release_holds(self, now: float) -> None:
        settle = self.config.watch.settle_seconds
        for photo, hold in list(self.holds.items()):
            if now - hold.since < settle:
                continue
            del self.holds[photo]
            stamp = Stamp.of(photo)
            if stamp == hold.stamp:
                self._report(photo, hold.stamp, hold.error)
            elif stamp is not None:
                self.settler.changed(photo, now)

    def _report(self, photo: Path, stamp: Stamp, error: str) -> None:
        """A broken photo, reported once: the state row keeps it from being reported again."""
        self.state.record(photo, stamp, self.model_version, error=error)
        log.error("%s", error)

    # Signals, reloads, stopping.

    def _on_signals(self, received: list[int]) -> None:
        for signum in received:
            if signum == signal.SIGHUP:
                self._reload()
            else:
                log.info("%s received: stopping", signal.Signals(signum).name)
                self.stopping = True

    def _reload(self) -> None:
        systemd.reloading()
        self._write_status("reloading")
        try:
            config = self.reload_config()
            folders = self._folders(config)
        except BlurwatchError as exc:
            log.error("%s; keeping the running configuration (%s)", exc, self.config.source)
        else:
            self._apply(config, folders)
        self._write_status("watching")
        systemd.ready(self._status_text())

    def _apply(self, config: Config, folders: tuple[Path, ...]) -> None:
        if default_jobs(config) != default_jobs(self.config):
            log.warning("%s: jobs: the new number of workers takes effect at the next start", config.source)
        if config.watch.state_path() != self.config.watch.state_path():
            log.warning("%s: watch.state_dir: takes effect at the next start", config.source)
        self.pool.reload(config)
        self.settler.quiet_seconds = config.watch.quiet_seconds
        old = self.config.watch
        if (folders, config.watch.poll, config.watch.poll_interval) != (self.watcher.folders, old.poll,
                                                                        old.poll_interval):
            self.watcher.close()
            self.watcher = _start_watcher(folders, config)
            self._scan(folders, time.monotonic())
        self.config = config
        log.info("%s: configuration reloaded; watching %s with %s", config.source,
                 ", ".join(map(str, folders)), self.watcher.kind)

    def _stop(self) -> None:
        """Stop intake, give photos in progress the grace period, record what finished."""
        systemd.stopping()
        self._write_status("stopping")
        self.watcher.stop()
        abandoned = self.pool.close(self.config.watch.stop_grace_seconds)
        self._collect(time.monotonic())
        left = len(self.backlog) + len(abandoned) + len(self.settler) + len(self.holds)
        self._write_status("stopped")
        log.info("stopped after scoring %d photo(s); %d left for the next start", self.scored, left)

    # Status for `blurwatch status` and systemctl.

    def _heartbeat(self, now: float) -> None:
        self.heartbeat_due = now + HEARTBEAT_SECONDS
        if not self.watcher.healthy():
            self.watcher.recover()
            self._scan(self.watcher.folders, now)
        self._write_status("watching")
        text = self._status_text()
        if text != self.status_line:
            self.status_line = text
            systemd.status(text)

    def _write_status(self, phase: str) -> None:
        self.state.set_status(DaemonStatus(
            pid=os.getpid(), phase=phase, started_at=self.started_at, heartbeat=time.time(),
            waiting=len(self.settler) + len(self.backlog) + len(self.holds), in_queue=self.pool.pending(),
            folders=tuple(map(str, self.watcher.folders)), observer=self.watcher.kind,
            model_version=self.model_version,
        ))

    def _status_text(self) -> str:
        waiting = len(self.settler) + len(self.backlog) + len(self.holds)
        return (f"watching {len(self.watcher.folders)} folder(s) ({self.watcher.kind}): {waiting} waiting, "
                f"{self.pool.pending()} in progress, {self.scored} scored since start")

    def _folders(self, config: Config) -> tuple[Path, ...]:
        given = self.cli_folders or tuple(Path(folder).expanduser() for folder in config.watch.folders)
        if not given:
            raise ConfigError(f"{config.source}: watch.folders: no folders to watch "
                              "(name them on the command line or in the configuration)")
        return tuple(Path(os.path.abspath(folder)) for folder in given)


def _start_watcher(folders: Sequence[Path], config: Config) -> Watcher:
    watcher = Watcher(folders, config.watch.poll, config.watch.poll_interval)
    watcher.start()
    return watcher


@contextlib.contextmanager
def _single_instance(state_dir: Path) -> Iterator[None]:
    """Two daemons on one state folder would score every photo twice; the second one refuses."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    with open(path, "a+", encoding="ascii") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            lock.seek(0)
            raise DaemonError(f"{path}: another blurwatch daemon (pid {lock.read().strip() or '?'}) "
                              "is running with this state folder") from exc
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield
