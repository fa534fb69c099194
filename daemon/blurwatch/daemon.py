"""The watch daemon: new photos in the watched folders get a verdict, once.

One main loop, in the main thread, owns everything that changes: it ``select``s on
the signal pipe and the watcher's inbox, passes events to the
:class:`~blurwatch.backlog.Backlog` (which decides what becomes a job, and what an
outcome means), hands its jobs to the :class:`~blurwatch.workers.WorkerPool` (whose
bounded inbox keeps decoded images few; waiting photos are only paths) and logs what
the backlog recorded.

Each recorded outcome also goes to the :class:`~blurwatch.burst_tracker.BurstTracker`,
which decides a camera's bursts once no frame of it arrived for ``burst.quiet_seconds``
(asking the backlog to judge again the frames whose verdicts a restart lost).

Signal handlers only write the signal number to a pipe (:class:`SignalPipe`):
SIGTERM/SIGINT stop intake and give photos in progress ``watch.stop_grace_seconds``;
SIGHUP reloads the configuration, rebuilds whatever the new one changes (the watcher,
the worker pool, the state folder) and keeps the old one when the new one is bad.
systemd hears READY / RELOADING / STOPPING, and a watchdog ping from this loop only
while every busy worker shows progress (or there is nothing to do). A watched folder
that is not there (a card not yet inserted, a share not yet mounted) is watched for,
on start and after SIGHUP alike, and scanned once it appears.
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from blurwatch import discovery, systemd
from blurwatch.backlog import Backlog, Recorded
from blurwatch.burst_stage import Applied
from blurwatch.burst_tracker import BurstTracker
from blurwatch.config import Config
from blurwatch.errors import BlurwatchError, ConfigError, DaemonError, shown
from blurwatch.job import Job
from blurwatch.pipeline import Models
from blurwatch.state import DaemonStatus, StateDB
from blurwatch.watcher import Watcher
from blurwatch.workers import WorkerPool, default_jobs

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
    with _StateFolder(config.watch.state_path()) as state_folder, SignalPipe() as signals:
        return Daemon(config, folders, reload_config, state_folder, signals).run()


class SignalPipe:
    """Signal handlers that only write the signal's number to a pipe the main loop selects on."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous = {signum: signal.signal(signum, self._handler) for signum in self.SIGNALS}

    def __enter__(self) -> SignalPipe:
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


class _StateFolder:
    """The state folder in use: its lock (one daemon per folder) and its database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stack = contextlib.ExitStack()
        try:
            self._stack.enter_context(_single_instance(path))
            self.db = self._stack.enter_context(StateDB.in_dir(path))
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> _StateFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()


class _Watchdog:
    """systemd's watchdog, pinged only while no busy worker has gone a ping interval without progress.

    Workers report each stage of a job, so a long job keeps the pings coming while a
    hung one stops them, and systemd restarts the service.
    """

    def __init__(self, interval: float | None) -> None:
        self.every = interval / 2 if interval else None
        self.due = 0.0

    def tick(self, now: float, silence: tuple[float, Job | None]) -> None:
        if self.every is None or now < self.due:
            return
        self.due = now + self.every
        quiet, job = silence
        if job is None or quiet < self.every:
            systemd.watchdog_ping()
        else:
            log.warning("%s: its worker has shown no progress for %.0f s; not pinging the systemd watchdog",
                        shown(job.photos[0]), quiet)


class Daemon:
    """The main loop's state; :meth:`run` is the whole life of the daemon."""

    pool: WorkerPool  # both set by run()
    watcher: Watcher

    def __init__(self, config: Config, folders: Sequence[Path], reload_config: ConfigLoader,
                 state_folder: _StateFolder, signals: SignalPipe) -> None:
        self.config = config
        self.cli_folders = tuple(folders)
        self.reload_config = reload_config
        self.state_folder = state_folder
        self.signals = signals
        self.model_version = Models.load().version
        self.backlog = Backlog(state_folder.db, self.model_version, config.watch.quiet_seconds,
                               config.watch.settle_seconds)
        self.bursts = BurstTracker(state_folder.db, config, time.monotonic())
        self.stopping = False
        self.started_at = time.time()
        self.scored = 0
        self.watchdog = _Watchdog(systemd.watchdog_interval())
        self.heartbeat_due = 0.0
        self.status_line = ""

    def run(self) -> int:
        folders = self._folders(self.config)
        self.pool = _start_pool(self.config)
        try:
            self.watcher = _start_watcher(Watcher(folders, self.config.watch.poll, self.config.watch.poll_interval))
            try:
                self._scan(self.watcher.watched, time.monotonic())
                self._write_status("watching")
                systemd.ready(self._status_text())
                log.info("%s: watching %d folder(s) with %s, model %s", ", ".join(map(shown, folders)),
                         len(folders), self.watcher.kind, self.model_version)
                while not self.stopping:
                    self._tick()
                self._stop()
            finally:
                self.watcher.close()
        finally:
            self.pool.close(grace=0.0)  # nothing left to do after a clean stop
        return 0

    # One turn of the loop.

    def _tick(self) -> None:
        signals, changes = self.signals.fileno(), self.watcher.inbox.fileno()
        readable, _, _ = select.select([signals, changes], [], [], self._timeout())
        now = time.monotonic()
        if signals in readable:
            self._on_signals(self.signals.take())
        self._take_changes(now)
        self.backlog.queue_settled(now)
        self.backlog.hand_out(lambda job: self.pool.submit(job, timeout=0))
        self._collect(self.pool, now)
        self._log(self.backlog.release_holds(now))
        self._log_groups(self.bursts.decide(now, lambda photos: self.backlog.recall(photos, now)))
        if now >= self.heartbeat_due:
            self._heartbeat(now)
        self.watchdog.tick(now, self.pool.silence())

    def _timeout(self) -> float:
        if self.backlog.in_flight:
            return BUSY_TICK
        now = time.monotonic()
        due = [self.heartbeat_due, now + IDLE_TICK]
        if (waiting := self.backlog.next_due()) is not None:
            due.append(waiting)
        if (bursts_due := self.bursts.next_due()) is not None:
            due.append(bursts_due)
        if self.watchdog.every:
            due.append(self.watchdog.due)
        return max(0.0, min(due) - now)

    def _take_changes(self, now: float) -> None:
        for path, kind in self.watcher.inbox.take().items():
            if kind == "folder":
                self._scan([path], now)
            else:
                self.backlog.changed(path, kind, now)

    def _scan(self, folders: Sequence[Path], now: float) -> None:
        """Catch up with a folder: photos not done with this model wait to be quiet, like new ones."""
        groups, errors = discovery.find_jobs(folders)
        for line in errors:
            log.error("%s", line)
        self.backlog.found(groups, now, wanted=self.watcher.inbox.wants)

    def _collect(self, pool: WorkerPool, now: float) -> None:
        while (outcome := pool.get(timeout=0)) is not None:
            recorded = self.backlog.record(outcome, now)
            self._log(recorded)
            if any(done.error is None for done in recorded):  # not voided: the photo did not change meanwhile
                self.bursts.add(outcome, now)

    def _log(self, recorded: list[Recorded]) -> None:
        """Each photo's line, once its outcome is committed to the state database."""
        for done in recorded:
            if done.error is not None:
                log.error("%s", done.error)
                continue
            reasons = f" ({', '.join(done.reasons)})" if done.reasons else ""
            if done.again:  # its verdict was logged when it was first scored
                log.info("%s: judged again for its burst after a restart (%s%s)", shown(done.photo), done.decision,
                         reasons)
                continue
            self.scored += 1
            log.info("%s: %s%s in %.2f s", shown(done.photo), done.decision, reasons, done.seconds)

    def _log_groups(self, applied: list[Applied]) -> None:
        """The sidecars the burst stage could not rewrite (the groups themselves are logged as decided)."""
        for done in applied:
            for error in done.errors.values():
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
            self._apply(config, self._folders(config))
        except BlurwatchError as exc:
            # one log line: a YAML error's picture of the line stays for the terminal
            log.error("%s; keeping the running configuration (%s)", str(exc).splitlines()[0], self.config.source)
        self._write_status("watching")
        systemd.ready(self._status_text())

    def _apply(self, config: Config, folders: tuple[Path, ...]) -> None:
        """Rebuild what ``config`` changes; what can fail (a folder, the state lock) is tried first."""
        old = self.config.watch
        moved = config.watch.state_path() != self.state_folder.path
        new_state = _StateFolder(config.watch.state_path()) if moved else None
        try:
            new_watcher = None
            if (folders, config.watch.poll, config.watch.poll_interval) != (self.watcher.folders, old.poll,
                                                                            old.poll_interval):
                new_watcher = _start_watcher(Watcher(folders, config.watch.poll, config.watch.poll_interval))
        except BaseException:
            if new_state is not None:
                new_state.close()
            raise
        now = time.monotonic()
        if new_state is not None:
            self.state_folder.close()
            self.state_folder, self.backlog.state, self.bursts.state = new_state, new_state.db, new_state.db
            log.info("%s: now keeping state in %s", config.source, new_state.path)
        if (default_jobs(config), config.watch.queue_size) != (default_jobs(self.config), old.queue_size):
            self._restart_pool(config, now)
        else:
            self.pool.reload(config)
        self.backlog.configure(config.watch.quiet_seconds, config.watch.settle_seconds)
        self.bursts.config = config
        if new_watcher is not None:
            self.watcher.close()
            self.watcher = new_watcher
        if new_watcher is not None or new_state is not None:
            self._scan(self.watcher.watched, now)
        self.config = config
        log.info("%s: configuration reloaded; watching %s with %s", config.source,
                 ", ".join(map(shown, folders)), self.watcher.kind)

    def _restart_pool(self, config: Config, now: float) -> None:
        """A pool of the new size: photos in progress get the grace period, the rest wait for the new one."""
        abandoned = self.pool.close(self.config.watch.stop_grace_seconds)
        self._collect(self.pool, now)
        self.backlog.give_back(abandoned)
        self.pool = _start_pool(config)
        log.info("%s: %d worker(s), queue of %d: worker pool restarted", config.source, default_jobs(config),
                 config.watch.queue_size)

    def _stop(self) -> None:
        """Stop intake, give photos in progress the grace period, record what finished."""
        systemd.stopping()
        self._write_status("stopping")
        self.watcher.stop()
        abandoned = self.pool.close(self.config.watch.stop_grace_seconds)
        self._collect(self.pool, time.monotonic())
        left = len(self.backlog) + len(abandoned)
        self._write_status("stopped")
        log.info("stopped after scoring %d photo(s); %d left for the next start", self.scored, left)

    # Status for `blurwatch status` and systemctl.

    def _heartbeat(self, now: float) -> None:
        self.heartbeat_due = now + HEARTBEAT_SECONDS
        if not self.watcher.healthy():
            self._scan(self.watcher.recover(), now)
        self._write_status("watching")
        text = self._status_text()
        if text != self.status_line:
            self.status_line = text
            systemd.status(text)

    def _write_status(self, phase: str) -> None:
        self.state_folder.db.set_status(DaemonStatus(
            pid=os.getpid(), phase=phase, started_at=self.started_at, heartbeat=time.time(),
            waiting=len(self.backlog), in_queue=self.pool.pending(),
            folders=tuple(map(str, self.watcher.folders)), observer=self.watcher.kind,
            model_version=self.model_version,
        ))

    def _status_text(self) -> str:
        missing = f", {len(self.watcher.missing)} not there" if self.watcher.missing else ""
        return (f"watching {len(self.watcher.watched)} folder(s) ({self.watcher.kind}{missing}): "
                f"{len(self.backlog)} waiting, {self.pool.pending()} in progress, {self.scored} scored since start")

    def _folders(self, config: Config) -> tuple[Path, ...]:
        given = self.cli_folders or tuple(Path(folder).expanduser() for folder in config.watch.folders)
        if not given:
            raise ConfigError(f"{config.source}: watch.folders: no folders to watch "
                              "(name them on the command line or in the configuration)")
        return tuple(Path(os.path.abspath(folder)) for folder in given)


def _start_pool(config: Config) -> WorkerPool:
    return WorkerPool(config, default_jobs(config), config.watch.queue_size)


def _start_watcher(watcher: Watcher) -> Watcher:
    """``watcher``, started; a folder that cannot be watched (permissions, no inotify) is a :class:`DaemonError`."""
    try:
        watcher.start()
    except OSError as exc:
        watcher.close()
        raise DaemonError(f"{shown(exc.filename or watcher.folders[0])}: cannot watch: {exc.strerror or exc}") from exc
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
