"""Watch folders for new photos, and tell when a new file has stopped changing.

Three parts, after watchdog's own split:

* :class:`Inbox` is the watchdog event handler. It only records which candidate path
  changed how (in a dict, so a 5,000-file burst is 5,000 small entries) and wakes the
  daemon's main loop through a pipe; it never reads a file.
* :class:`Watcher` owns the observer: inotify, or polling when asked (network shares)
  or when inotify runs out of watches.
* :class:`Settler` decides, in the main loop, when a file is safe to read: no event and
  no change of size or mtime for ``quiet_seconds``, or a quarter of that after the
  writer closed it (or renamed it into place), which is what keeps latency low for the
  usual copy. Reading a file that is still being written would score half a photo.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from watchdog import events
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from blurwatch.discovery import is_candidate, shot_key
from blurwatch.errors import ConfigError, DaemonError
from blurwatch.state import Stamp

log = logging.getLogger(__name__)

# After a close-after-write or a rename into place, wait this fraction of quiet_seconds:
# long enough to catch a writer that reopens the file, short enough for ~1 s latency.
CLOSED_QUIET_FRACTION = 0.25

Kind = Literal["written", "closed", "gone", "folder"]

_LIBC = ctypes.CDLL(None, use_errno=True)
_IN_CREATE = 0x100

_EVENTS = [
    events.FileCreatedEvent, events.FileModifiedEvent, events.FileClosedEvent, events.FileMovedEvent,
    events.FileDeletedEvent, events.DirCreatedEvent, events.DirMovedEvent,
]


class Inbox(events.FileSystemEventHandler):
    """Collects changed paths from watchdog's thread for the main loop, which selects on :meth:`fileno`."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self._roots = tuple(roots)
        self._lock = threading.Lock()
        self._changes: dict[Path, Kind] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def fileno(self) -> int:
        return self._wake_r

    def close(self) -> None:
        os.close(self._wake_r)
        os.close(self._wake_w)

    def on_any_event(self, event: events.FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if event.is_directory:
            if event.event_type in (events.EVENT_TYPE_CREATED, events.EVENT_TYPE_MOVED):
                self._put(Path(dest or src), "folder")
            return
        if event.event_type == events.EVENT_TYPE_MOVED:
            self._put(Path(src), "gone")
            self._put(Path(dest), "closed")
        elif event.event_type == events.EVENT_TYPE_DELETED:
            self._put(Path(src), "gone")
        elif event.event_type == events.EVENT_TYPE_CLOSED:
            self._put(Path(src), "closed")
        else:
            self._put(Path(src), "written")

    def take(self) -> dict[Path, Kind]:
        """The changes since the last call, latest kind per path (drains the wake pipe)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        with self._lock:
            changes, self._changes = self._changes, {}
        return changes

    def wants(self, path: Path) -> bool:
        """Is ``path`` a photo to score, hidden and ignored folders under the watched ones included?"""
        root = next((root for root in self._roots if path.is_relative_to(root)), None)
        return is_candidate(path, root)

    def _put(self, path: Path, kind: Kind) -> None:
        if kind != "folder" and not self.wants(path):
            return
        with self._lock:
            wake = not self._changes
            self._changes.pop(path, None)  # re-insert: the dict keeps arrival order
            self._changes[path] = kind
        if wake:
            with contextlib.suppress(BlockingIOError):  # a full pipe: the main loop is awake already
                os.write(self._wake_w, b"!")


class Watcher:
    """The folders' observer: inotify where it can, polling where it must."""

    def __init__(self, folders: Sequence[Path], poll: bool, poll_interval: float) -> None:
        for folder in folders:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: folder to watch does not exist")
        self.folders = tuple(folders)
        self.poll = poll
        self.poll_interval = poll_interval
        self.inbox = Inbox(self.folders)
        self._observer: BaseObserver | None = None

    @property
    def kind(self) -> str:
        return "polling" if self.poll else "inotify"

    def start(self) -> None:
        """Start watching; when inotify runs out of watches or instances, poll instead."""
        try:
            self._observer = self._start(self.poll)
        except OSError as exc:
            if self.poll or exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            self._poll_instead(exc.strerror or str(exc))
            return
        if not self.healthy():
            self.recover()

    def healthy(self) -> bool:
        """False when watching broke: an emitter stopped (its folder went away), or inotify ran out.

        watchdog silently skips sub-folders it cannot watch, so running out is seen by
        trying to add one more watch ourselves.
        """
        if self._observer is None or not all(e.is_alive() for e in self._observer.emitters):
            return False
        return self.poll or _inotify_has_room(self.folders[0])

    def recover(self) -> None:
        """Watch again after :meth:`healthy` turned False; the caller rescans the folders.

        Folders that are gone are dropped (an error each; none left is a
        :class:`DaemonError`); otherwise inotify ran out of watches, so poll instead.
        """
        self.stop()
        gone = [folder for folder in self.folders if not folder.is_dir()]
        for folder in gone:
            log.error("%s: watched folder is gone; no longer watching it", folder)
        self.folders = tuple(folder for folder in self.folders if folder not in gone)
        if not self.folders:
            raise DaemonError(f"{gone[0]}: no watched folder is left")
        if gone or self.poll:
            self.start()
        else:
            self._poll_instead("inotify watch limit reached (see fs.inotify.max_user_watches)")

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def close(self) -> None:
        self.stop()
        self.inbox.close()

    def _poll_instead(self, why: str) -> None:
        log.warning("%s: %s; polling every %.1f s instead", self.folders[0], why, self.poll_interval)
        self.poll = True
        self._observer = self._start(True)

    def _start(self, poll: bool) -> BaseObserver:
        observer = PollingObserver(timeout=self.poll_interval) if poll else Observer()
        for folder in self.folders:
            observer.schedule(self.inbox, str(folder), recursive=True, event_filter=_EVENTS)
        try:
            observer.start()
        except OSError:
            observer.stop()
            raise
        return observer


def _inotify_has_room(folder: Path) -> bool:
    """Can this user add one more inotify watch? (Linux; True where there is no inotify.)"""
    init = getattr(_LIBC, "inotify_init1", None)
    if init is None:
        return True
    fd = init(os.O_CLOEXEC)
    if fd < 0:
        return True  # out of instances: starting the observer would have failed already
    try:
        return _LIBC.inotify_add_watch(fd, os.fsencode(folder), _IN_CREATE) >= 0 or ctypes.get_errno() != errno.ENOSPC
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Settled:
    """A file that stopped changing: its stamp now, and since when (monotonic) it has not changed."""

    path: Path
    stamp: Stamp
    since: float


@dataclass
class _Pending:
    stamp: Stamp | None  # at the last look
    looked_at: float
    changed_at: float  # last event or last change seen by stat (monotonic)
    closed: bool  # the last event was a close-after-write or a rename into place
    ticket: int = 0  # the live heap entry is the one with this ticket ...
    due: float = 0.0  # ... and it comes due then (inf: none, it is settled)
    settled: Settled | None = None  # quiet, waiting for the rest of its shot


class Settler:
    """Candidate files waiting to stop changing; the main loop asks which have.

    The files of one shot (IMG_0001.CR2 + IMG_0001.JPG, by :func:`discovery.shot_key`,
    as :func:`discovery.group` pairs them) are returned together, once all of them are quiet, so that a camera's
    RAW+JPEG pair copied in one go becomes one job.
    """

    def __init__(self, quiet_seconds: float) -> None:
        self.quiet_seconds = quiet_seconds
        self._files: dict[Path, _Pending] = {}
        self._shots: dict[tuple[Path, str], set[Path]] = {}
        self._heap: list[tuple[float, int, Path]] = []
        self._tickets = itertools.count(1)
        self._recheck: list[Path] = []  # a shot-mate was forgotten: maybe the rest is complete now

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def changed(self, path: Path, now: float, closed: bool = False) -> None:
        """An event says ``path`` was written (or closed, or renamed into place) at ``now``."""
        entry = self._files.get(path)
        if entry is None:
            self._track(path, _Pending(Stamp.of(path), now, now, closed))
            return
        entry.changed_at, entry.closed, entry.settled = now, closed, None
        if self._deadline(entry) < entry.due:  # else the live heap entry reschedules when due
            self._schedule(path, entry)

    def found(self, path: Path, now: float) -> None:
        """A folder scan found ``path``: it counts as quiet since its mtime (catch-up)."""
        stamp = Stamp.of(path)
        if stamp is None or path in self._files:
            return
        age = max(0.0, time.time() - stamp.mtime_ns / 1e9)
        self._track(path, _Pending(stamp, now, now - age, False))

    def forget(self, path: Path) -> None:
        if self._files.pop(path, None) is None:
            return
        key = shot_key(path)
        mates = self._shots[key]
        mates.discard(path)
        if mates:
            self._recheck.append(next(iter(mates)))
        else:
            del self._shots[key]

    def next_due(self) -> float | None:
        """When :meth:`settled` may next have something (monotonic), None when nothing waits."""
        if self._recheck:
            return 0.0
        return self._heap[0][0] if self._heap else None

    def settled(self, now: float) -> list[Settled]:
        """Files quiet long enough, whole shots at a time; each is returned once and let go."""
        quiet, self._recheck = self._recheck, []
        while self._heap and self._heap[0][0] <= now:
            _, ticket, path = heapq.heappop(self._heap)
            entry = self._files.get(path)
            if entry is not None and entry.ticket == ticket and self._look(path, entry, now):
                quiet.append(path)
        done: list[Settled] = []
        for path in quiet:
            done.extend(self._release_shot(shot_key(path)))
        return done

    def _look(self, path: Path, entry: _Pending, now: float) -> bool:
        """Is ``path`` quiet now? If not, it is scheduled again (or forgotten when gone)."""
        if self._deadline(entry) > now:
            self._schedule(path, entry)
            return False
        stamp = Stamp.of(path)
        if stamp is None:
            self.forget(path)
            return False
        silent_change = stamp != entry.stamp and entry.changed_at <= entry.looked_at
        entry.stamp, entry.looked_at = stamp, now
        if silent_change:  # no event explains it: polling, or a network share
            entry.changed_at, entry.closed = now, False
            self._schedule(path, entry)
            return False
        entry.settled, entry.due = Settled(path, stamp, entry.changed_at), float("inf")
        return True

    def _release_shot(self, key: tuple[Path, str]) -> list[Settled]:
        mates = self._shots.get(key, set())
        if not mates or any(self._files[m].settled is None for m in mates):
            return []
        del self._shots[key]
        return [self._files.pop(m).settled for m in sorted(mates)]  # type: ignore[misc]

    def _track(self, path: Path, entry: _Pending) -> None:
        self._files[path] = entry
        self._shots.setdefault(shot_key(path), set()).add(path)
        self._schedule(path, entry)

    def _schedule(self, path: Path, entry: _Pending) -> None:
        entry.ticket, entry.due = next(self._tickets), self._deadline(entry)
        heapq.heappush(self._heap, (entry.due, entry.ticket, path))

    def _deadline(self, entry: _Pending) -> float:
        wait = self.quiet_seconds * (CLOSED_QUIET_FRACTION if entry.closed else 1.0)
        return entry.changed_at + wait
