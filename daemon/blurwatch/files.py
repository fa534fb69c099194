"""Files on disk, handled safely: bounded reads, and whole-file replaces that never leave half a file.

blurwatch writes beside people's photos: sidecars, the report page and its thumbnails,
the config file ``calibrate`` changes. Every one of them is replaced whole: a new
hidden file beside it is written and fsynced, renamed over the old one, and the folder
is fsynced, so a reader sees the old file or the new one, never half of either, and a
crash leaves one of the two.

The new file is the old one's in all but content: its owner, group, permission bits,
POSIX ACL and other extended attributes are carried over, and where that cannot be
done (another user's file, an attribute this user may not set) the file is left as it
is and the caller told why. A file that is read-only for its owner (mode 0444: "do not
touch", even for root) or has more than one hard link (a replace would split them) is
never replaced.

A replace can insist that the file still holds the bytes it was read with
(:func:`replace_unchanged`), so that a save by another program meanwhile is never
overwritten. It compares content, not timestamps (a same-size save inside one
timestamp tick looks unchanged to ``stat``), as close to the rename as the platform
allows. Where the kernel and filesystem can swap two names atomically (Linux
``renameat2(RENAME_EXCHANGE)``: ext2/3/4, XFS, btrfs, tmpfs, FAT since 6.0) the new file
is swapped in and the file swapped out is compared, under a write lease where one is
granted, a moment later: a save that landed at any moment before the swap (an in-place
rewrite such as darktable's, or another program's rename) shows there, as does a
program holding the file open for writing or opening it meanwhile, and the swap is
undone. Elsewhere (network shares, most FUSE filesystems) the file is compared through
an open descriptor right before a plain rename and again right after it: an in-place
save in between is caught and put back, while a save by rename landing in the
microseconds between the last comparison and the rename cannot be told from nothing.
Either way, a program that had the file open (or looked it up) before the swap and
writes to it only after the check writes to the old file.

SIGTERM or SIGINT arriving during a replace acts once the rename is done, so a stopped
run leaves no temporary file behind. Reading is bounded: only a regular file (never a
link, folder or pipe, even one swapped in meanwhile), and no more than the caller's
limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import grp
import logging
import os
import pwd
import secrets
import signal
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurwatch.errors import FileError, shown

log = logging.getLogger(__name__)

# Temporary files are ".<12 hex digits>.blurwatch-tmp" whatever the file's name, so that a
# file whose name is near the filesystem's 255-byte limit can still be replaced.
TEMPORARY_SUFFIX = ".blurwatch-tmp"
# Another program's save found under a temporary name after a failed swap is kept under this one.
CONFLICT_SUFFIX = ".blurwatch-conflict"
# How much of another program's in-place save is put back (far more than any sidecar).
_RESTORE_LIMIT = 256 << 20
_HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long a swapped-out file is watched for a save caught in its first steps (seconds).
_SETTLE = 0.002

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# What renameat2 answers where the kernel or the filesystem has no such rename.
_NO_SUCH_RENAME = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
_LIBC = ctypes.CDLL(None, use_errno=True)
# What :func:`_replace` expects to find for a replace that takes whatever is there.
_ANY = object()


class Changed(FileError):
    """The file is no longer the one that was read: another program saved it meanwhile."""


@dataclass(frozen=True)
class Fingerprint:
    """What tells one version of a file from the next without reading it: inode, size and mtime.

    Enough to notice a photo replaced or rewritten between two looks; not enough to
    notice a same-size save within one timestamp tick, which is why sidecars are
    compared by content.
    """

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Fingerprint:
        return cls(info.st_ino, info.st_size, info.st_mtime_ns)

    @classmethod
    def now(cls, path: Path) -> Fingerprint | None:
        """The file's fingerprint now, None when it is gone or cannot be looked at."""
        try:
            return cls.of(os.stat(path))
        except OSError:
            return None


@dataclass(frozen=True)
class Snapshot:
    """A file as read: its bytes, None when there was no file (what :func:`replace_unchanged` compares)."""

    path: Path
    data: bytes | None


def read_bounded(path: Path, limit: int, what: str = "file") -> Snapshot:
    """Read a regular file of at most ``limit`` bytes; an absent one is a :class:`Snapshot` without data.

    Raises :class:`FileError` for anything else: a link, folder or pipe, a file over the
    limit (``what`` names the kind of file in the message), or a read error.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Snapshot(path, None)
    except OSError as exc:
        raise FileError(path, _cannot("read", path, exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise FileError(path, "is not a regular file (a link, folder or pipe); left as it is")
    if info.st_size > limit:
        raise FileError(path, f"is {info.st_size / 2**20:.1f} MiB, over the {limit // 2**20} MiB limit for a {what}")
    data = _read_regular(path, limit, what)
    return Snapshot(path, data)


def replace(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Put ``data`` in place of ``path`` (or create it) atomically, keeping the old file's owner, mode and attributes.

    ``durable=False`` skips the fsyncs, for a cache that can be made again: after a crash
    its file may be empty, never half of another. Raises :class:`FileError` when it
    cannot be written, or the old file must not or cannot be replaced faithfully (see
    the module's docstring); the old file is then untouched.
    """
    _replace(path, data, _ANY, durable)


def replace_unchanged(snapshot: Snapshot, data: bytes) -> None:
    """Like :func:`replace`, but only while the file still holds the bytes ``snapshot`` read.

    Raises :class:`Changed` when another program saved (or created, or removed) it since;
    the other program's file is then in place, untouched.
    """
    _replace(snapshot.path, data, snapshot.data, durable=True)


def _replace(path: Path, data: bytes, expected: Any, durable: bool) -> None:
    with _signals_held():
        _write_beside_and_rename(path, data, expected, durable)
    if durable:
        _fsync_folder(path)


def _write_beside_and_rename(path: Path, data: bytes, expected: Any, durable: bool) -> None:
    """The temporary file, written, synced and made like the old one, then put in place; on failure removed."""
    old = _lstat(path)
    if old is not None:
        _check_replaceable(path, old)
    elif expected is not _ANY and expected is not None:
        raise Changed(path, "was removed by another program since it was read; left as it is")
    try:
        fd, temporary = _create_temporary(path)
    except OSError as exc:
        raise FileError(path, _cannot("write", path, exc, in_folder=True)) from exc
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            if old is not None:
                _carry_metadata(file.fileno(), path, old)
            if durable:
                os.fsync(file.fileno())
        if expected is _ANY:
            os.replace(temporary, path)
        elif expected is None:
            _create_in_place(temporary, path)
        else:
            _put_in_place(temporary, path, data, expected)
    except OSError as exc:
        _discard(temporary, path, data)
        raise FileError(path, _cannot("write", path, exc)) from exc
    except BaseException:
        _discard(temporary, path, data)
        raise


def _check_replaceable(path: Path, info: os.stat_result) -> None:
    """Refuse what must not be replaced: not a regular file, read-only, not ours to write, hard-linked."""
    if not stat.S_ISREG(info.st_mode):
        raise FileError(path, "is not a regular file (a link, folder or pipe); left as it is")
    mode = stat.S_IMODE(info.st_mode)
    if not mode & stat.S_IWUSR:
        raise FileError(path, f"is read-only (mode {mode:04o}); left as it is (make it writable for its owner "
                              "to let blurwatch write)")
    if not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids, follow_symlinks=False):
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            raise FileError(path, "is on a read-only filesystem; left as it is")
        raise FileError(path, f"is not writable for {_user(os.geteuid())} (owner {_user(info.st_uid)}, "
                              f"mode {mode:04o}); left as it is")
    if info.st_nlink > 1:
        raise FileError(path, f"has {info.st_nlink} hard links, which replacing it would split; left as it is")


def _carry_metadata(fd: int, path: Path, old: os.stat_result) -> None:
    """Make the open new file ``fd`` the old file's in owner, group, mode, ACL and extended attributes.

    Raises :class:`FileError` naming what cannot be carried over.
    """
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError as exc:
            raise FileError(path, f"belongs to {_user(old.st_uid)}:{_group(old.st_gid)}, which "
                                  f"{_user(os.geteuid())} cannot give a new file ({exc.strerror}); "
                                  "left as it is") from exc
    wanted = _xattrs(path)
    try:
        for name in _xattrs(fd).keys() - wanted.keys():  # e.g. a default ACL the folder gave the new file
            os.removexattr(fd, name)
        for name, value in wanted.items():
            os.setxattr(fd, name, value)
    except OSError as exc:
        raise FileError(path, f"has extended attributes ({', '.join(sorted(wanted))}) that cannot be copied "
                              f"to a new file ({exc.strerror}); left as it is") from exc
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after the ACL, whose mask it must match
    carried = os.fstat(fd)
    if (carried.st_uid, carried.st_gid, carried.st_mode) != (old.st_uid, old.st_gid, old.st_mode) \
            or _xattrs(fd) != wanted:
        raise FileError(path, "its owner, mode or extended attributes could not be given to a new file; "
                              "left as it is")


def _xattrs(file: Path | int) -> dict[str, bytes]:
    """A file's extended attributes (the POSIX ACL is ``system.posix_acl_access``); none where unsupported."""
    try:
        if isinstance(file, Path):
            return {name: os.getxattr(file, name, follow_symlinks=False)
                    for name in os.listxattr(file, follow_symlinks=False)}
        return {name: os.getxattr(file, name) for name in os.listxattr(file)}
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise


def _create_in_place(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` to ``path``, which was absent when read: never over a file created since."""
    try:
        if _rename2(temporary, path, _RENAME_NOREPLACE):
            return
    except FileExistsError as exc:
        raise Changed(path, "was created by another program since blurwatch looked; left as it is") from exc
    if _lstat(path) is not None:  # no such rename here: look, then rename (the window is the gap between)
        raise Changed(path, "was created by another program since blurwatch looked; left as it is")
    os.replace(temporary, path)


def _put_in_place(temporary: Path, path: Path, data: bytes, expected: bytes) -> None:
    """Rename ``temporary`` over ``path`` if ``path`` still holds ``expected``; else :class:`Changed`.

    With an atomic swap, the file swapped out is compared; without, the file is compared
    through a descriptor held across a plain rename.
    """
    if _content(path, len(expected) + 1) != expected:
        raise Changed(path, "was changed by another program since it was read; left as it is")
    try:
        swapped = _rename2(temporary, path, _RENAME_EXCHANGE)
    except FileNotFoundError as exc:
        raise Changed(path, "was removed by another program since it was read; left as it is") from exc
    if swapped:
        _check_swapped_out(temporary, path, data, expected)
    else:
        _rename_checked(temporary, path, data, expected)


def _check_swapped_out(temporary: Path, path: Path, data: bytes, expected: bytes) -> None:
    """After the swap ``temporary`` names the file that was at ``path``; undo the swap unless it was ``expected``.

    On return or :class:`Changed` the temporary name is gone, or holds an earlier save
    kept under a ``.blurwatch-conflict`` name.
    """
    if _unchanged_and_let_go(temporary, expected):
        return
    _swap_back(temporary, path)  # their save back at path; ours, or a save made on it since, at temporary
    if _content(temporary, len(data) + 1) == data:
        temporary.unlink()
        raise Changed(path, "was saved, or opened for writing, by another program while blurwatch replaced it; "
                            "left with that program's version")
    _swap_back(temporary, path)  # a second save landed on ours meanwhile: it is the latest
    kept = _keep_aside(temporary)
    raise Changed(path, f"was saved twice by other programs while blurwatch replaced it: the latest save is "
                        f"in place, the one before it is kept as {kept.name}")


def _unchanged_and_let_go(temporary: Path, expected: bytes) -> bool:
    """Whether the swapped-out file still holds ``expected`` with nobody writing it; if so it is removed.

    A save that opened the file just before the swap may not have truncated it yet when
    the swap is done, so the file is looked at under a write lease where the kernel
    grants one (the file is ours or we are root, a local filesystem): the lease is
    refused while anybody has the file open for writing, and broken by anybody opening
    it meanwhile. Either way the file is compared again after :data:`_SETTLE` seconds,
    time enough for a save caught in its first steps to show.
    """
    fd = os.open(temporary, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        leased = _lease(fd)
        if leased is False or _read_all(fd, len(expected) + 1) != expected:
            return False
        time.sleep(_SETTLE)
        if _read_all(fd, len(expected) + 1) != expected or (leased and _lease_broken(fd)):
            return False
        temporary.unlink()
        return True
    finally:
        if leased:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(fd)


def _lease(fd: int) -> bool | None:
    """Take a write lease: True when granted, False when somebody has the file open, None when unavailable.

    A broken lease is announced with SIGIO, whose default action ends the process, so a
    lease is taken only while SIGIO is ignored (:func:`_signals_held` does that on the
    main thread).
    """
    if signal.getsignal(signal.SIGIO) != signal.SIG_IGN:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except OSError as exc:
        return False if exc.errno == errno.EAGAIN else None
    return True


def _lease_broken(fd: int) -> bool:
    return fcntl.fcntl(fd, fcntl.F_GETLEASE) != fcntl.F_WRLCK


def _swap_back(temporary: Path, path: Path) -> None:
    """Swap the two names again; if ``path`` was removed meanwhile, just move ``temporary`` back to it."""
    try:
        _rename2(temporary, path, _RENAME_EXCHANGE)
    except FileNotFoundError:
        _create_in_place(temporary, path)


def _rename_checked(temporary: Path, path: Path, data: bytes, expected: bytes) -> None:
    """A plain rename, the file compared through a descriptor held just before and just after it.

    An in-place save between the two looks shows in the held (now replaced) file and is
    put back; a save by rename in that gap is what this cannot see.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if _read_all(fd, len(expected) + 1) != expected:
            raise Changed(path, "was changed by another program since it was read; left as it is")
        os.replace(temporary, path)
        theirs = _read_all(fd, _RESTORE_LIMIT)
    finally:
        os.close(fd)
    if theirs != expected:
        log.warning("%s: saved by another program while blurwatch replaced it; putting that save back", shown(path))
        _replace(path, theirs, data, durable=True)
        raise Changed(path, "was changed by another program while blurwatch replaced it; its save is back "
                            "in place")


def _discard(temporary: Path, path: Path, data: bytes) -> None:
    """Remove the temporary file after a failure, unless a swap left another program's save under its name."""
    try:
        ours = _content(temporary, len(data) + 1) in (None, data)
    except OSError:  # not a regular file (a link swapped in): not ours to remove
        ours = False
    if ours:
        temporary.unlink(missing_ok=True)
    else:
        kept = _keep_aside(temporary)
        log.error("%s: another program's save was kept as %s", shown(path), kept.name)


def _keep_aside(temporary: Path) -> Path:
    kept = temporary.with_name(temporary.name.replace(TEMPORARY_SUFFIX, CONFLICT_SUFFIX))
    os.replace(temporary, kept)
    return kept


def _rename2(source: Path, target: Path, flags: int) -> bool:
    """renameat2(2) with ``flags``; False where the kernel or filesystem has no such rename, OSError else."""
    function = getattr(_LIBC, "renameat2", None)
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_SUCH_RENAME:
        return False
    raise OSError(code, os.strerror(code), str(target))


def _content(path: Path, limit: int) -> bytes | None:
    """The regular file's first ``limit`` bytes now, None when it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        return _read_all(fd, limit)
    finally:
        os.close(fd)


def _read_all(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``fd`` from its start, whatever its offset."""
    chunks = []
    offset = 0
    while offset < limit and (chunk := os.pread(fd, min(limit - offset, 1 << 20), offset)):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    """The file's bytes, refusing to follow a link or wait on a pipe swapped in since the check."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise FileError(path, _cannot("read", path, exc)) from exc
    if len(data) > limit:
        raise FileError(path, f"grew over the {limit // 2**20} MiB limit for a {what}")
    return data


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside ``path``; mode 0666 less the umask, like any new file."""
    while True:
        temporary = path.with_name(f".{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
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
        log.warning("%s: written, but its folder could not be synced to disk: %s", shown(path), exc.strerror)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _cannot(doing: str, path: Path, exc: OSError, in_folder: bool = False) -> str:
    """Why ``path`` cannot be read or written, in words (a name too long for its filesystem says so)."""
    if exc.errno == errno.ENAMETOOLONG:
        return (f"cannot {doing} it: its name is {len(os.fsencode(path.name))} bytes, longer than its "
                "filesystem allows (255 on most)")
    return f"cannot {doing}{' in its folder' if in_folder else ''}: {exc.strerror}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT received meanwhile act when the block is done; SIGIO is ignored (see :func:`_lease`).

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
    previous[signal.SIGIO] = signal.signal(signal.SIGIO, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for held in received:
            signal.raise_signal(held)
