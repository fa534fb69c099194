"""Files on disk, handled safely: bounded reads, and whole-file replaces that never leave half a file.

blurwatch writes beside people's photos: sidecars, the report page and its thumbnails,
the config file ``calibrate`` changes. Every one of them is replaced whole: a new
hidden file beside it is written and fsynced, renamed over the old one, and the folder
is fsynced, so a reader sees the old file or the new one, never half of either, and a
crash leaves one of the two. The new file keeps the old one's permission bits. A
replace can insist that the file is still the one read (its inode, size and mtime),
so that a save by another program meanwhile is never overwritten. SIGTERM or SIGINT
arriving during a replace acts once the rename is done, so a stopped run leaves no
temporary file behind.

Reading is bounded: only a regular file (never a link, folder or pipe, even one swapped
in meanwhile), and no more than the caller's limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurwatch.errors import FileError

log = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".blurwatch-tmp"
_HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Changed(FileError):
    """The file is no longer the one that was read: another program saved it meanwhile."""


@dataclass(frozen=True)
class Fingerprint:
    """What tells one version of a file from the next without reading it."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Fingerprint:
        return cls(info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class Snapshot:
    """A file as read: its bytes (None when there was no file), fingerprint and permission bits."""

    path: Path
    data: bytes | None
    fingerprint: Fingerprint | None
    mode: int | None


def read_bounded(path: Path, limit: int, what: str = "file") -> Snapshot:
    """Read a regular file of at most ``limit`` bytes; an absent one is a :class:`Snapshot` without data.

    Raises :class:`FileError` for anything else: a link, folder or pipe, a file over the
    limit (``what`` names the kind of file in the message), or a read error.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Snapshot(path, None, None, None)
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise FileError(path, "is not a regular file (a link, folder or pipe); left as it is")
    if info.st_size > limit:
        raise FileError(path, f"is {info.st_size / 2**20:.1f} MiB, over the {limit // 2**20} MiB limit for a {what}")
    data = _read_regular(path, limit, what)
    return Snapshot(path, data, Fingerprint.of(info), stat.S_IMODE(info.st_mode))


def replace(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Put ``data`` in place of ``path`` (or create it) atomically; the old file's mode is kept.

    ``durable=False`` skips the fsyncs, for a cache that can be made again: after a crash
    its file may be empty, never half of another. Raises :class:`FileError` when it
    cannot be written; the old file is then untouched.
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    _replace(path, data, mode, expected=None, durable=durable)


def replace_unchanged(snapshot: Snapshot, data: bytes) -> None:
    """Like :func:`replace`, but only while the file is still the one ``snapshot`` read.

    Raises :class:`Changed` when another program saved (or created, or removed) it since.
    """
    _replace(snapshot.path, data, snapshot.mode, expected=snapshot, durable=True)


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    """The file's bytes, refusing to follow a link or wait on a pipe swapped in since the check."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror}") from exc
    if len(data) > limit:
        raise FileError(path, f"grew over the {limit // 2**20} MiB limit for a {what}")
    return data


def _replace(path: Path, data: bytes, mode: int | None, expected: Snapshot | None, durable: bool) -> None:
    with _signals_held():
        _write_beside_and_rename(path, data, mode, expected, durable)
    if durable:
        _fsync_folder(path)


def _write_beside_and_rename(path: Path, data: bytes, mode: int | None, expected: Snapshot | None,
                             durable: bool) -> None:
    """The temporary file, written and synced, renamed over ``path``; on any failure it is removed."""
    try:
        fd, temporary = _create_temporary(path)
    except OSError as exc:
        raise FileError(path, f"cannot write in its folder: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as file:
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        if expected is not None and _current_fingerprint(path) != expected.fingerprint:
            raise Changed(path, "was changed by another program since it was read; left as it is")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise FileError(path, f"cannot write: {exc.strerror}") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside ``path``; mode 0666 less the umask, like any new file."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def _fsync_folder(path: Path) -> None:
    """Make the rename itself durable; the new file is in place either way."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("%s: written, but its folder could not be synced to disk: %s", path, exc.strerror)


def _current_fingerprint(path: Path) -> Fingerprint | None:
    try:
        return Fingerprint.of(os.lstat(path))
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT received meanwhile act when the block is done.

    Only the main thread can catch signals; a replace in another thread (the report's
    thumbnails) is not held, and a signal's handler runs in the main thread anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in _HELD_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for held in received:
            signal.raise_signal(held)
