"""Watch folders for new photos, and tell when a new file has stopped changing.

Three parts, after watchdog's own split:

* :class:`Inbox` is the watchdog event handler. It only records which candidate path
  changed how (in a dict, so a 5,000-file burst is 5,000 small entries) and wakes the
  daemon's main loop through a pipe; it never reads a file.
* :class:`Watcher` owns the observer: inotify, or polling when asked (network shares)
  or when inotify runs out of watches. Folders that are not there are watched for.
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
import stat
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
from blurwatch.errors import shown
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
    """The folders' observer: inotify where it can, polling where it must.

    A folder asked for that is not there (a card or share not mounted yet, a folder
    deleted) is warned about and watched for: :meth:`healthy` turns False when one
    appears, goes away, or is mounted over (its device changes), and :meth:`recover`
    then watches what is there and names the folders to scan.
    """

    def __init__(self, folders: Sequence[Path], poll: bool, poll_interval: float) -> None:
        self.folders = tuple(folders)
        self.poll = poll
        self.poll_interval = poll_interval
        self.inbox = Inbox(self.folders)
        self._observer: BaseObserver | None = None
        self._watched: dict[Path, tuple[int, int]] = {}  # folder -> (device, inode) when watching began
        self._closed = False

    @property
    def kind(self) -> str:
        return "polling" if self.poll else "inotify"

    @property
    def watched(self) -> tuple[Path, ...]:
        """The folders being watched: those asked for that exist."""
        return tuple(folder for folder in self.folders if folder in self._watched)

    @property
    def missing(self) -> tuple[Path, ...]:
        """The folders asked for that are not there (yet)."""
        return tuple(folder for folder in self.folders if folder not in self._watched)

    def start(self) -> None:
        """Watch the folders that exist; when inotify runs out of watches or instances, poll instead."""
        self._watched = _identities(self.folders)
        for folder in self.missing:
            log.warning("%s: folder to watch does not exist; watching for it to appear (a card or share "
                        "mounted later)", shown(folder))
        if not self._watched:
            return
        try:
            self._observer = self._start(self.poll)
        except OSError as exc:
            if self.poll or exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            self._poll_instead(exc.strerror or str(exc))
            return
        if not self.poll and not _inotify_has_room(self.watched[0]):
            self.stop()
            self._poll_instead("inotify watch limit reached (see fs.inotify.max_user_watches)")

    def healthy(self) -> bool:
        """False when watching no longer matches the folders, or broke.

        A folder appeared, went away or was mounted over; an emitter stopped; or inotify
        ran out of watches (watchdog silently skips sub-folders it cannot watch, so that
        is seen by trying to add one more watch ourselves).
        """
        if _identities(self.folders) != self._watched:
            return False
        if self._observer is None:
            return not self._watched
        if not all(emitter.is_alive() for emitter in self._observer.emitters):
            return False
        return self.poll or _inotify_has_room(self.watched[0])

    def recover(self) -> tuple[Path, ...]:
        """Watch again after :meth:`healthy` turned False; returns the folders to scan (watched anew).

        A folder that is gone is watched for; polling is the fallback only when inotify
        really has no watch left.
        """
        before = self._watched
        for folder in before.keys() - _identities(self.folders).keys():
            log.error("%s: watched folder is gone; watching for it to come back", shown(folder))
        self.stop()
        self.start()
        anew = tuple(folder for folder in self.watched if before.get(folder) != self._watched[folder])
        for folder in anew:
            log.info("%s: folder is %s; watching and scanning it", shown(folder),
                     "there now" if folder not in before else "a different one now (mounted, or made again)")
        return anew

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def close(self) -> None:
        """Stop watching and close the inbox; closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.inbox.close()

    def _poll_instead(self, why: str) -> None:
        log.warning("%s: %s; polling every %.1f s instead", shown(self.watched[0]), why, self.poll_interval)
        self.poll = True
        self._observer = self._start(True)

    def _start(self, poll: bool) -> BaseObserver:
        observer = PollingObserver(timeout=self.poll_interval) if poll else Observer()
        for folder in self.watched:
            observer.schedule(self.inbox, str(folder), recursive=True, event_filter=_EVENTS)
        try:
            observer.start()
        except OSError:
            observer.stop()
            raise
        return observer


def _identities(folders: Sequence[Path]) -> dict[Path, tuple[int, int]]:
    """The folders that exist now, each with its (device, inode): a mount on it changes the device."""
    found = {}
    for folder in folders:
        try:
            info = folder.stat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found[folder] = (info.st_dev, info.st_ino)
    return found


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
