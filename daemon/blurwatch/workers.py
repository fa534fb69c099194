"""Workers: run jobs in separate processes, so that a decoder crash costs one photo.

LibRaw is C code fed with files from anywhere; a corrupt RAW can segfault it, and a
huge one can get the process OOM-killed. Each worker is its own OS process, started
with "spawn" (never fork: the TFLite and OpenCV thread pools do not survive a fork), and
holds one job at a time, so when one dies the parent knows exactly which job killed it,
reports that job as failed and starts a replacement. The run goes on. What a worker does
with a job is :func:`blurwatch.job.run_job`; the pool only carries jobs and outcomes.

The parent keeps one dispatcher thread that owns the pipes: it hands a job to each idle
worker, receives outcomes (and the workers' log records, which it re-emits through the
parent's logging) and watches the process sentinels. :meth:`WorkerPool.submit` and
:meth:`WorkerPool.get` only touch thread-safe queues, so the daemon can feed the pool
from one thread and collect from another.

An expected failure is in the outcome (:attr:`blurwatch.job.Outcome.errors`); any
exception out of a worker's job is a bug and is raised again in the parent as
:class:`WorkerBug`, carrying the worker's traceback text. A worker tells the parent
after each stage of a job (decoded, judged, each sidecar written), so that
:meth:`WorkerPool.silence` tells a slow photo from a hung worker. What C libraries print
on a worker's stderr during a job (libpng's and libjpeg's warnings, which name no file)
is logged as a line naming the job's photo. A worker stopped by SIGTERM dies
at once, unless it is replacing a sidecar: :mod:`blurwatch.files` finishes the rename
first, so no temporary file is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from blurwatch.config import Config
from blurwatch.errors import shown
from blurwatch.job import Job, Outcome, run_job
from blurwatch.pipeline import Models

log = logging.getLogger(__name__)

# How often a blocked submit() looks again whether the pool broke or closed meanwhile.
_SUBMIT_POLL = 0.2
# How long a worker gets to exit after SIGTERM before it is killed.
_TERMINATE_WAIT = 5.0
# glibc's mallopt() parameters (malloc.h), and the size up to which a worker keeps freed
# buffers: more than any one array a photo needs at the working size.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_FREED_BYTES = 32 << 20
# How much of what C libraries print during one job is logged.
_STDERR_KEPT = 16 << 10


class WorkerBug(RuntimeError):
    """A worker raised something that is not a :class:`PhotoError`: a bug, with its traceback."""


Task = Callable[..., Outcome]  # (job, config, models, progress=...) -> Outcome, like run_job


def default_jobs(config: Config) -> int:
    """Worker count: ``config.jobs``, or one per CPU core when that is 0."""
    return config.jobs or os.cpu_count() or 1


class WorkerPool:
    """Worker processes fed one job at a time from a bounded inbox; a context manager.

    ``task`` is what a worker runs for each job (:func:`blurwatch.job.run_job`; tests pass
    one that crashes on purpose). Outcomes come back in completion order.
    """

    def __init__(self, config: Config, jobs: int, inbox_size: int | None = None, task: Task = run_job) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self._context = multiprocessing.get_context("spawn")
        self._task = task
        self._config = config
        self._inbox: queue.Queue[Job] = queue.Queue(inbox_size or 2 * jobs)
        self._outbox: queue.Queue[Outcome | _Failure] = queue.Queue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a worker became idle
        self._pending = 0
        self._in_flight = 0
        self._closing = False
        self._stopped = False
        self._broken: str | None = None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._workers = [self._start_worker() for _ in range(jobs)]
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="blurwatch-dispatcher", daemon=True)
        self._dispatcher.start()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if not self._stopped:
            self.close(grace=0.0)

    # The caller's side.

    def submit(self, job: Job, timeout: float | None = None) -> bool:
        """Queue ``job``; False when the bounded inbox stayed full for ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._raise_if_unusable()
            wait = _SUBMIT_POLL if deadline is None else max(0.0, min(_SUBMIT_POLL, deadline - time.monotonic()))
            try:
                self._inbox.put(job, block=wait > 0, timeout=wait or None)
            except queue.Full:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                continue
            with self._lock:
                self._pending += 1
            self._wake()
            return True

    def get(self, timeout: float | None = None) -> Outcome | None:
        """The next finished outcome, or None after ``timeout`` seconds without one.

        Raises :class:`WorkerBug` when a worker hit a bug.
        """
        try:
            item = self._outbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _Failure):
            raise WorkerBug(item.text)
        with self._lock:
            self._pending -= 1
        return item

    def pending(self) -> int:
        """Jobs submitted whose outcome :meth:`get` has not returned yet."""
        with self._lock:
            return self._pending

    def silence(self) -> tuple[float, Job | None]:
        """The longest a busy worker has gone without a sign of progress (seconds), and its job.

        (0.0, None) when no worker is busy. The daemon stops feeding systemd's watchdog
        when this grows long: a hung worker then gets the service restarted.
        """
        now = time.monotonic()
        busy = [(now - worker.heard, worker.job) for worker in list(self._workers) if worker.job is not None]
        return max(busy, key=lambda item: item[0], default=(0.0, None))

    def reload(self, config: Config) -> None:
        """Use ``config`` for every job not started yet (SIGHUP)."""
        with self._lock:
            self._config = config

    def map_unordered(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Submit every job and yield each outcome as it finishes (the ``--once`` loop)."""
        for job in jobs:
            while not self.submit(job, timeout=_SUBMIT_POLL):
                yield from self._ready_outcomes()
            yield from self._ready_outcomes()
        while self.pending():
            outcome = self.get()
            if outcome is not None:
                yield outcome

    def close(self, grace: float) -> list[Job]:
        """Stop: jobs not started are abandoned at once, jobs in progress get ``grace`` seconds.

        A worker still busy after that is terminated; it finishes the sidecar it is
        writing first (writes are atomic anyway). Returns the abandoned jobs; outcomes
        that finished stay available to :meth:`get`.
        """
        with self._lock:
            if self._stopped:
                return []
            self._closing = True
        abandoned = self._drain_inbox()
        deadline = time.monotonic() + grace
        with self._changed:
            while self._in_flight and self._broken is None and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            self._stopped = True
        self._wake()
        self._dispatcher.join()
        for worker in self._workers:
            self._take_messages(worker)  # an outcome that arrived at the deadline still counts
            abandoned.extend(worker.stop())
        with self._lock:
            self._pending -= len(abandoned)
        os.close(self._wake_read)
        os.close(self._wake_write)
        for job in abandoned:
            log.info("%s: abandoned on stop", shown(job.photos[0]))
        return abandoned

    def _ready_outcomes(self) -> Iterator[Outcome]:
        while (outcome := self.get(timeout=0)) is not None:
            yield outcome

    def _raise_if_unusable(self) -> None:
        if self._closing:
            raise RuntimeError("the worker pool is closed")
        if self._broken is not None:
            raise WorkerBug(self._broken)

    def _drain_inbox(self) -> list[Job]:
        jobs = []
        while True:
            try:
                jobs.append(self._inbox.get_nowait())
            except queue.Empty:
                return jobs

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"\0")

    # The dispatcher thread's side.

    def _start_worker(self) -> _Worker:
        return _Worker(self._context, self._task, logging.getLogger("blurwatch").getEffectiveLevel())

    def _dispatch_loop(self) -> None:
        try:
            while not self._stopped and self._broken is None:
                self._feed_idle_workers()
                waitables: list[Any] = [self._wake_read]
                for worker in self._workers:
                    waitables += [worker.conn, worker.process.sentinel]
                ready = set(multiprocessing.connection.wait(waitables))
                if self._wake_read in ready:
                    os.read(self._wake_read, 4096)
                for worker in list(self._workers):
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._take_messages(worker)
                        if worker.dead():
                            self._bury(worker)
        except BaseException:  # a bug in the dispatcher itself: hand it to the caller
            self._fail(traceback.format_exc())

    def _feed_idle_workers(self) -> None:
        with self._lock:
            if self._closing:
                return
            config = self._config
        for worker in self._workers:
            if worker.job is not None:
                continue
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._in_flight += 1
            worker.give(job, config)

    def _take_messages(self, worker: _Worker) -> None:
        for message in worker.receive():
            kind = message[0]
            if kind == "log":
                record: logging.LogRecord = message[1]
                logging.getLogger(record.name).handle(record)
            elif kind == "alive":
                worker.heard = time.monotonic()
            elif kind == "ready":
                worker.ready = True
            elif kind == "done":
                self._finished(worker, message[1])
            else:  # "bug"
                self._fail(message[1])

    def _finished(self, worker: _Worker, outcome: Outcome) -> None:
        worker.job = None
        self._outbox.put(outcome)
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def _bury(self, worker: _Worker) -> None:
        """Account for a dead worker and start its replacement."""
        how = _describe_exit(worker.process.exitcode)
        self._workers.remove(worker)
        worker.conn.close()
        if not worker.ready:  # it never got going: the environment is broken, not one photo
            self._fail(f"a worker process {how} while starting (pid {worker.process.pid})")
            return
        self._workers.append(self._start_worker())
        if worker.job is None:
            log.warning("an idle worker process %s (pid %s); started a new one", how, worker.process.pid)
            return
        path = shown(worker.job.photos[0])
        log.error("%s: decoder crashed (%s); started a new worker", path, how)
        self._finished(worker, Outcome.failed(worker.job, f"{path}: decoder crashed ({how})"))

    def _fail(self, text: str) -> None:
        """Hand a bug to the caller (the next get() raises it) and stop dispatching."""
        with self._changed:
            if self._broken is None:
                self._broken = text
                self._outbox.put(_Failure(text))
            self._changed.notify_all()


@dataclass(frozen=True)
class _Failure:
    text: str


class _Worker:
    """One worker process, the parent's end of its pipe and the job it holds."""

    def __init__(self, context: Any, task: Task, log_level: int) -> None:
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child_conn, task, log_level), name="blurwatch-worker", daemon=True
        )
        self.process.start()
        child_conn.close()
        self.job: Job | None = None
        self.ready = False  # it has loaded the model
        self.heard = time.monotonic()  # its last sign of progress on the job it holds
        self.eof = False  # its end of the pipe is closed: it has exited or is exiting

    def give(self, job: Job, config: Config) -> None:
        self.job, self.heard = job, time.monotonic()
        with contextlib.suppress(BrokenPipeError, OSError):  # it died: its sentinel reports the job
            self.conn.send((job, config))

    def receive(self) -> Iterator[tuple[Any, ...]]:
        """Every message waiting on the pipe, up to end of file (the worker is gone)."""
        try:
            while not self.eof and self.conn.poll():
                yield self.conn.recv()
        except (EOFError, OSError):
            self.eof = True

    def dead(self) -> bool:
        """True once the process has exited (its pipe shows end of file a moment earlier)."""
        if self.eof:
            self.process.join(_TERMINATE_WAIT)
        return not self.process.is_alive()

    def stop(self) -> list[Job]:
        """End the process; returns the job it was still holding, if any."""
        if self.process.is_alive() and self.job is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(None)
            self.process.join(_TERMINATE_WAIT)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(_TERMINATE_WAIT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        return [self.job] if self.job is not None else []


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


# Inside a worker process.


class _LogPipe:
    """Lets a ``QueueHandler`` send the worker's log records to the parent over the job pipe."""

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self._conn = conn

    def put_nowait(self, record: logging.LogRecord) -> None:
        self._conn.send(("log", record))


def _keep_freed_buffers() -> None:
    """Let glibc keep a photo's freed buffers for the next photo instead of unmapping them.

    A worker allocates and frees some 20 MB of arrays per photo. By default glibc maps
    blocks that big afresh and unmaps them when freed, so every photo page-faults them
    in again (5,700 faults a 24 MP JPEG); kept, they cost a worker about 6 MB more and
    save a tenth of a JPEG run's time (bench/README.md). Nothing to do on other C libraries.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _KEEP_FREED_BYTES)
    mallopt(_M_TRIM_THRESHOLD, 4 * _KEEP_FREED_BYTES)


def _worker_main(conn: multiprocessing.connection.Connection, task: Task, log_level: int) -> None:
    """A worker's life: load the models once, then run jobs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _keep_freed_buffers()
    logging.getLogger().handlers = [logging.handlers.QueueHandler(_LogPipe(conn))]  # type: ignore[arg-type]
    logging.getLogger("blurwatch").setLevel(log_level)  # the parent's handlers filter the rest
    try:
        models = Models.load(num_threads=1)
    except Exception:
        conn.send(("bug", f"worker {os.getpid()} could not load the models:\n{traceback.format_exc()}"))
        return
    conn.send(("ready",))
    with tempfile.TemporaryFile() as stderr:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone
                return
            if message is None:
                return
            job, config = message
            try:
                with _stderr_into(stderr, job):
                    reply: tuple[str, Any] = ("done", task(job, config, models, progress=lambda: conn.send(("alive",))))
            except Exception:
                reply = ("bug", f"worker {os.getpid()} failed on {job.photos[0]}:\n{traceback.format_exc()}")
            try:
                conn.send(reply)
            except (BrokenPipeError, EOFError):
                return


@contextlib.contextmanager
def _stderr_into(capture: Any, job: Job) -> Iterator[None]:
    """What is printed on file descriptor 2 during a job, logged afterwards as lines naming its photo.

    The worker's own logging goes to the parent through the pipe, so only C libraries'
    messages ("libpng warning: iCCP: known incorrect sRGB profile", "Corrupt JPEG data:
    ...") land here.
    """
    capture.seek(0)
    capture.truncate()
    saved = os.dup(2)
    os.dup2(capture.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        capture.seek(0)
        for line in capture.read(_STDERR_KEPT).decode("utf-8", "replace").splitlines():
            if line.strip():
                log.info("%s: the decoder says: %s", shown(job.photos[0]), line.strip())
