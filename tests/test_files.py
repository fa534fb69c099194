"""The file layer: bounded reads, whole-file replaces, another program's save never overwritten."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blurwatch import files
from blurwatch.errors import FileError

LIMIT = 1024


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{files.TEMPORARY_SUFFIX}"))


def read_back(folder: Path) -> tuple[Path, files.Snapshot]:
    """A sidecar that blurwatch has just read."""
    path = folder / "a.xmp"
    path.write_bytes(b"as read")
    return path, files.read_bounded(path, LIMIT)


# ---------------------------------------------------------------- reading


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"hello")
    snapshot = files.read_bounded(path, LIMIT)
    assert snapshot.data == b"hello" and snapshot.path == path


def test_an_absent_file_reads_as_no_data(tmp_path: Path) -> None:
    snapshot = files.read_bounded(tmp_path / "none.xmp", LIMIT)
    assert snapshot.data is None


@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
def test_only_a_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.xmp"
    if kind == "link":
        (tmp_path / "target").write_bytes(b"x")
        path.symlink_to(tmp_path / "target")
    elif kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(FileError, match="is not a regular file"):
        files.read_bounded(path, LIMIT)


def test_a_file_over_the_limit_is_refused_naming_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "big.xmp"
    path.write_bytes(b"x" * (2 * 2**20))
    with pytest.raises(FileError) as raised:
        files.read_bounded(path, 2**20, "sidecar")
    assert str(raised.value) == f"{path}: is 2.0 MiB, over the 1 MiB limit for a sidecar"


# ---------------------------------------------------------------- replacing


def test_a_new_file_gets_the_usual_permissions_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        files.replace(tmp_path / "page.html", b"<html>")
    finally:
        os.umask(umask)
    path = tmp_path / "page.html"
    assert path.read_bytes() == b"<html>" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_permission_bits(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"jobs: 1\n")
    path.chmod(0o600)
    files.replace(path, b"jobs: 2\n")
    assert path.read_bytes() == b"jobs: 2\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_one(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"old")

    def fail(src: Path, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(FileError, match="cannot write: No space left on device"):
        files.replace(path, b"new")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_file_saved_by_another_program_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path, snapshot = read_back(tmp_path)
    path.write_bytes(b"saved by darktable meanwhile")
    with pytest.raises(files.Changed):
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"saved by darktable meanwhile" and leftovers(tmp_path) == []


def test_a_file_created_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    snapshot = files.read_bounded(path, LIMIT)
    path.write_bytes(b"created by darktable meanwhile")
    with pytest.raises(files.Changed):
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"created by darktable meanwhile"


def test_an_unchanged_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    files.replace_unchanged(files.read_bounded(path, LIMIT), b"ours")
    assert path.read_bytes() == b"ours"


def test_a_stop_signal_during_a_replace_acts_once_the_file_is_in_place(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.xmp"
    events: list[str] = []
    rename = os.replace

    def rename_after_a_sigterm(src: Path, dst: Path) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the temporary file is written
        rename(src, dst)
        events.append("renamed")

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: events.append("SIGTERM"))
    try:
        monkeypatch.setattr(os, "replace", rename_after_a_sigterm)
        files.replace(path, b"whole")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["renamed", "SIGTERM"]
    assert path.read_bytes() == b"whole" and leftovers(tmp_path) == []


def test_a_same_size_save_within_one_timestamp_tick_is_not_overwritten(tmp_path: Path) -> None:
    """What stat cannot see: same inode, same size, same mtime (ext4 ticks every few ms, FAT every 2 s)."""
    path = tmp_path / "a.xmp"
    path.write_bytes(b"rating 1")
    before = path.stat()
    snapshot = files.read_bounded(path, LIMIT)
    with open(path, "r+b") as file:  # darktable saves in place
        file.write(b"rating 5")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert files.Fingerprint.of(path.stat()) == files.Fingerprint.of(before)
    with pytest.raises(files.Changed):
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"rating 5" and leftovers(tmp_path) == []


def test_a_file_removed_meanwhile_is_not_recreated(tmp_path: Path) -> None:
    path, snapshot = read_back(tmp_path)
    path.unlink()
    with pytest.raises(files.Changed, match="removed"):
        files.replace_unchanged(snapshot, b"ours")
    assert not path.exists() and leftovers(tmp_path) == []


# ---------------------------------------------------------------- saves racing the rename


def save_in_place(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:  # g_fopen(path, "wb"), as darktable saves a sidecar
        file.write(data)


def rename_hook(monkeypatch: pytest.MonkeyPatch, before: dict[int, Callable[[], None]],
                after: dict[int, Callable[[], None]] | None = None, exchange: bool = True) -> list[int]:
    """Run ``before[n]`` just before the n-th renameat2 call (``after[n]`` just after); returns the calls' flags.

    With ``exchange=False`` the filesystem has no RENAME_EXCHANGE (network shares, FUSE).
    """
    calls: list[int] = []
    real = files._rename2

    def hooked(source: Path, target: Path, flags: int) -> bool:
        calls.append(flags)
        before.get(len(calls), lambda: None)()
        if flags == files._RENAME_EXCHANGE and not exchange:
            return False
        done = real(source, target, flags)
        (after or {}).get(len(calls), lambda: None)()
        return done

    monkeypatch.setattr(files, "_rename2", hooked)
    return calls


def test_a_save_just_before_the_swap_is_swapped_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, snapshot = read_back(tmp_path)
    calls = rename_hook(monkeypatch, {1: lambda: save_in_place(path, b"darktable's save")})
    with pytest.raises(files.Changed, match="while blurwatch replaced it"):
        files.replace_unchanged(snapshot, b"ours")
    assert calls == [files._RENAME_EXCHANGE] * 2  # swapped, compared, swapped back
    assert path.read_bytes() == b"darktable's save" and leftovers(tmp_path) == []


def test_a_file_another_program_has_open_for_writing_is_swapped_back(tmp_path: Path) -> None:
    """A save that has opened the file but not yet truncated it: the write lease is refused, so no replace."""
    path, snapshot = read_back(tmp_path)
    with open(path, "r+b"), pytest.raises(files.Changed, match="while blurwatch replaced it"):  # darktable, saving
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"as read" and leftovers(tmp_path) == []


def test_a_second_save_on_the_swapped_in_file_is_the_one_kept(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two saves within microseconds: the latest ends in place, the earlier one beside it, nothing lost."""
    path, snapshot = read_back(tmp_path)
    rename_hook(monkeypatch, {1: lambda: save_in_place(path, b"first save")},
                after={1: lambda: save_in_place(path, b"second save")})
    with pytest.raises(files.Changed, match=r"saved twice .* kept as \.\w+\.blurwatch-conflict"):
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"second save"
    [kept] = tmp_path.glob(f".*{files.CONFLICT_SUFFIX}")
    assert kept.read_bytes() == b"first save" and leftovers(tmp_path) == []


def test_without_an_atomic_swap_an_in_place_save_during_the_rename_is_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, snapshot = read_back(tmp_path)
    rename_hook(monkeypatch, {}, exchange=False)
    rename = os.replace
    saves = iter([b"darktable's save"])

    def replace_while_darktable_saves(source: Path, target: Path) -> None:
        with contextlib.suppress(StopIteration):
            save_in_place(Path(target), next(saves))  # into the file about to be replaced
        rename(source, target)

    monkeypatch.setattr(os, "replace", replace_while_darktable_saves)
    with pytest.raises(files.Changed, match="its save is back in place"):
        files.replace_unchanged(snapshot, b"ours")
    assert path.read_bytes() == b"darktable's save" and leftovers(tmp_path) == []


def test_without_an_atomic_swap_an_unchanged_file_is_replaced(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    rename_hook(monkeypatch, {}, exchange=False)
    files.replace_unchanged(files.read_bounded(path, LIMIT), b"ours")
    assert path.read_bytes() == b"ours" and leftovers(tmp_path) == []


# ---------------------------------------------------------------- what the new file keeps, what is never replaced


def test_a_read_only_file_is_left_alone_even_by_root(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    path.chmod(0o444)
    with pytest.raises(FileError, match=r"is read-only \(mode 0444\); left as it is"):
        files.replace_unchanged(files.read_bounded(path, LIMIT), b"ours")
    assert path.read_bytes() == b"as read" and leftovers(tmp_path) == []


def test_a_hard_linked_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    os.link(path, tmp_path / "backup.xmp")
    with pytest.raises(FileError, match="has 2 hard links, which replacing it would split"):
        files.replace(path, b"ours")
    assert path.read_bytes() == b"as read" and path.stat().st_nlink == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_owner_group_and_mode_are_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    os.chown(path, 65534, 65534)
    path.chmod(0o640)
    files.replace(path, b"ours")
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)


def as_user(uid: int, groups: list[int], work: Callable[[], str]) -> str:
    """What ``work`` returns when run by an ordinary user: a forked child drops root first."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest from here on, only os._exit
        try:
            os.close(read)
            os.setgroups(groups)
            os.setgid(uid)
            os.setuid(uid)
            os.write(write, work().encode())
        except BaseException as exc:  # handed to the test, whatever it is
            os.write(write, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        said = pipe.read()
    os.waitpid(pid, 0)
    return said


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder other users can reach (pytest's own are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="blurwatch-test-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming an ordinary user needs root first")
def test_an_ordinary_user_cannot_take_over_another_users_sidecar_and_leaves_it(open_folder: Path) -> None:
    """A group member may rename in the folder, but not give a new file the owner's name: refused, untouched."""
    folder = open_folder / "shared"
    folder.mkdir()
    folder.chmod(0o775)
    os.chown(folder, 1234, 4321)
    path, snapshot = read_back(folder)
    os.chown(path, 1234, 4321)
    path.chmod(0o664)

    def merge() -> str:
        try:
            files.replace_unchanged(snapshot, b"ours")
        except FileError as exc:
            return exc.reason
        return "replaced"

    said = as_user(65534, [4321], merge)
    assert said.startswith("belongs to uid 1234:gid 4321, which nobody cannot give a new file"), said
    assert path.read_bytes() == b"as read" and path.stat().st_uid == 1234 and leftovers(folder) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming an ordinary user needs root first")
def test_an_ordinary_users_own_sidecar_is_replaced_and_a_read_only_one_refused(open_folder: Path) -> None:
    folder = open_folder / "mine"
    folder.mkdir()
    os.chown(folder, 65534, 65534)
    path, snapshot = read_back(folder)
    os.chown(path, 65534, 65534)
    locked = folder / "locked.xmp"
    locked.write_bytes(b"as read")
    os.chown(locked, 65534, 65534)
    locked.chmod(0o444)

    def merge() -> str:
        files.replace_unchanged(snapshot, b"ours")
        try:
            files.replace(locked, b"ours")
        except FileError as exc:
            return exc.reason
        return "replaced"

    assert as_user(65534, [], merge).startswith("is read-only (mode 0444)")
    assert path.read_bytes() == b"ours" and path.stat().st_uid == 65534 and locked.read_bytes() == b"as read"


def test_an_owner_that_cannot_be_given_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a group member meets merging into another user's sidecar: no chown, so no replace."""
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    owner = path.stat().st_uid

    def not_allowed(fd: int, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fstat", lambda fd: _as_owned_by(os.lstat(path), owner + 1))
    monkeypatch.setattr(os, "fchown", not_allowed)
    with pytest.raises(FileError, match=r"belongs to .*, which .* cannot give a new file \(Operation not permitted\)"):
        files.replace(path, b"ours")
    assert path.read_bytes() == b"as read" and leftovers(tmp_path) == []


def _as_owned_by(info: os.stat_result, uid: int) -> os.stat_result:
    fields = list(info)
    fields[stat.ST_UID] = uid
    return os.stat_result(fields)


@pytest.fixture
def xattr_folder(tmp_path: Path) -> Path:
    """``tmp_path``, where user xattrs can be set and setfacl is there; else the test is skipped."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.blurwatch-probe", b"1")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    finally:
        probe.unlink()
    if shutil.which("setfacl") is None:
        pytest.skip("setfacl (the acl package) is not installed")
    return tmp_path


def test_acl_and_extended_attributes_are_carried_over(xattr_folder: Path) -> None:
    path, _ = read_back(xattr_folder)
    path.chmod(0o640)
    subprocess.run(["setfacl", "-m", "u:65534:rw", str(path)], check=True)
    os.setxattr(path, "user.xdg.origin.url", b"https://example.org/a")
    before = {name: os.getxattr(path, name) for name in os.listxattr(path)}
    assert "system.posix_acl_access" in before
    files.replace(path, b"ours")
    assert {name: os.getxattr(path, name) for name in os.listxattr(path)} == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o660  # the ACL's mask shows as the group's bits


def test_a_folders_default_acl_does_not_add_an_acl_the_file_had_not(xattr_folder: Path) -> None:
    path, _ = read_back(xattr_folder)
    path.chmod(0o644)
    subprocess.run(["setfacl", "-d", "-m", "u:65534:rw", str(xattr_folder)], check=True)
    files.replace(path, b"ours")
    assert "system.posix_acl_access" not in os.listxattr(path) and stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_attribute_that_cannot_be_copied_is_refused(xattr_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = read_back(xattr_folder)
    os.setxattr(path, "user.tag", b"x")

    def not_allowed(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setxattr", not_allowed)
    with pytest.raises(FileError, match=r"extended attributes \(user.tag\) that cannot be copied"):
        files.replace(path, b"ours")
    assert path.read_bytes() == b"as read" and leftovers(xattr_folder) == []


def test_a_name_at_the_filesystems_limit_can_be_replaced(tmp_path: Path) -> None:
    """The temporary name does not grow with the file's: a 255-byte sidecar name still works."""
    path = tmp_path / ("x" * 251 + ".xmp")
    path.write_bytes(b"as read")
    files.replace_unchanged(files.read_bounded(path, LIMIT), b"ours")
    assert path.read_bytes() == b"ours" and leftovers(tmp_path) == []


def test_a_name_over_the_limit_says_so(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 252 + ".xmp")
    with pytest.raises(FileError, match="its name is 256 bytes, longer than its filesystem allows"):
        files.read_bounded(path, LIMIT)


# ---------------------------------------------------------------- real filesystems, a real concurrent writer

WRITER = """
import os, sys, time
path, size, saves = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
number = lost = 0
while number < saves:
    number += 1
    data = (b"W%08d " % number).ljust(size - 4, b".") + b"END\\n"
    with open(path, "wb") as file:  # darktable: the same file, rewritten in place, always the same size
        file.write(data)
    for wait in (0.0003, 0.005):  # a merge that met this save is undone within microseconds
        time.sleep(wait)
        with open(path, "rb") as file:
            now = file.read()
        if now in (data, b"B" + data):
            break
    else:
        lost += 1
    time.sleep(0.001 * (number % 3))  # pauses of 0-2 ms leave room for merges to land between saves
print(number, lost)
"""


def race(folder: Path, saves: int = 300) -> tuple[int, int, int, int]:
    """A writer saving in place while blurwatch-like merges replace the file.

    Returns (saves, saves lost, merges done, merges refused because a save came first).
    """
    path = folder / "IMG_0001.jpg.xmp"
    size = 200
    save_in_place(path, b"W0".ljust(size - 4, b".") + b"END\n")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(size), str(saves)],
                              stdout=subprocess.PIPE, text=True)
    merges = refused = 0
    while writer.poll() is None:
        snapshot = files.read_bounded(path, 1024)
        data = snapshot.data or b""
        if len(data) != size or not data.endswith(b"END\n"):  # caught mid-save: the sidecar layer reads again
            continue
        try:
            files.replace_unchanged(snapshot, b"B" + data)
            merges += 1
        except files.Changed:
            refused += 1
    saves, lost = map(int, writer.communicate()[0].split())
    assert leftovers(folder) == [] and not list(folder.glob(f".*{files.CONFLICT_SUFFIX}"))
    return saves, lost, merges, refused


@contextlib.contextmanager
def mounted(tmp_path: Path, kind: str) -> Iterator[Path]:
    """A fresh ext2 loop mount (128-byte inodes: timestamps in whole seconds) or tmpfs, as root."""
    point = tmp_path / kind
    point.mkdir()
    if kind == "ext2":
        image = tmp_path / "ext2.img"
        with open(image, "wb") as file:
            file.truncate(8 << 20)
        subprocess.run(["mkfs.ext2", "-q", "-F", "-I", "128", str(image)], check=True, capture_output=True)
        command = ["mount", "-o", "loop", str(image), str(point)]
    else:
        command = ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {kind} here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a loop device or tmpfs needs root")
@pytest.mark.parametrize("kind", ["ext2", "tmpfs"])
def test_no_save_is_lost_to_a_concurrent_writer_on_a_real_filesystem(tmp_path: Path, kind: str) -> None:
    with mounted(tmp_path, kind) as folder:
        saves, lost, merges, refused = race(folder)
    assert merges > 0, (saves, merges, refused)  # the two really raced
    assert lost == 0, f"{lost} of {saves} saves lost to {merges} merges"
