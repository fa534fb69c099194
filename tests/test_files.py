"""The file layer: bounded reads, whole-file replaces, another program's save never overwritten."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from blurwatch import files
from blurwatch.errors import FileError

LIMIT = 1024


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{files.TEMPORARY_SUFFIX}"))


# ---------------------------------------------------------------- reading


def test_a_regular_file_is_read_with_its_fingerprint_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"hello")
    path.chmod(0o640)
    snapshot = files.read_bounded(path, LIMIT)
    assert snapshot.data == b"hello" and snapshot.mode == 0o640 and snapshot.path == path
    assert snapshot.fingerprint == files.Fingerprint.of(path.stat())


def test_an_absent_file_reads_as_no_data(tmp_path: Path) -> None:
    snapshot = files.read_bounded(tmp_path / "none.xmp", LIMIT)
    assert (snapshot.data, snapshot.fingerprint, snapshot.mode) == (None, None, None)


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
    path = tmp_path / "a.xmp"
    path.write_bytes(b"as read")
    snapshot = files.read_bounded(path, LIMIT)
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
