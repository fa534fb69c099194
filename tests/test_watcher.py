"""The watcher: which events count, when a file is quiet enough to read, inotify running out."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from blurwatch.state import Stamp
from blurwatch.watcher import CLOSED_QUIET_FRACTION, Settler, Watcher

QUIET = 1.0


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()


def _write(path: Path, data: bytes = b"\xff\xd8 not really a jpeg") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _old(path: Path, seconds: float = 3600) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


# The Settler, driven with explicit clock values.


def test_a_new_file_settles_after_the_quiet_period(tmp_path: Path) -> None:
    photo = _write(tmp_path / "a.jpg")
    settler = Settler(QUIET)
    settler.changed(photo, now=100.0)
    assert settler.settled(100.0 + QUIET - 0.01) == []
    [done] = settler.settled(100.0 + QUIET)
    assert done.path == photo and done.stamp == Stamp.of(photo) and done.since == 100.0
    assert len(settler) == 0 and settler.settled(200.0) == []


def test_a_closed_file_settles_sooner(tmp_path: Path) -> None:
    photo = _write(tmp_path / "a.jpg")
    settler = Settler(QUIET)
    settler.changed(photo, now=100.0)
    settler.changed(photo, now=100.5, closed=True)
    assert settler.next_due() == pytest.approx(100.5 + QUIET * CLOSED_QUIET_FRACTION)
    assert [s.path for s in settler.settled(100.5 + QUIET * CLOSED_QUIET_FRACTION)] == [photo]


def test_every_write_event_restarts_the_wait(tmp_path: Path) -> None:
    photo = _write(tmp_path / "a.jpg")
    settler = Settler(QUIET)
    for i in range(10_000):  # a slow copy: one event per chunk
        settler.changed(photo, now=100.0 + i * 0.001)
    assert settler.settled(100.0 + QUIET) == []
    assert len(settler._heap) <= 2  # events do not pile up (5,000-file bursts stay small)
    assert [s.path for s in settler.settled(110.0 + QUIET)] == [photo]


def test_a_file_growing_without_events_is_not_settled(tmp_path: Path) -> None:
    """Polling and network shares miss writes; the stat check sees them."""
    photo = _write(tmp_path / "a.jpg", b"x" * 10)
    settler = Settler(QUIET)
    settler.changed(photo, now=100.0)
    with photo.open("ab") as f:
        f.write(b"y" * 10)
    assert settler.settled(101.0) == []  # size changed since the event: wait again
    [done] = settler.settled(102.0)
    assert done.stamp.size == 20


def test_a_changed_file_settles_even_if_events_explain_the_change(tmp_path: Path) -> None:
    photo = _write(tmp_path / "a.jpg", b"x")
    settler = Settler(QUIET)
    settler.changed(photo, now=100.0)
    photo.write_bytes(b"xyz")
    settler.changed(photo, now=100.2, closed=True)
    [done] = settler.settled(100.2 + QUIET * CLOSED_QUIET_FRACTION)
    assert done.stamp.size == 3


def test_found_files_count_as_quiet_since_their_mtime(tmp_path: Path) -> None:
    old = _old(_write(tmp_path / "old.jpg"))
    fresh = _write(tmp_path / "fresh.jpg")
    settler = Settler(QUIET)
    now = time.monotonic()
    settler.found(old, now)
    settler.found(fresh, now)
    settler.found(tmp_path / "gone.jpg", now)
    assert [s.path for s in settler.settled(now)] == [old]
    assert [s.path for s in settler.settled(now + QUIET + 0.1)] == [fresh]


def test_deleted_and_forgotten_files_are_dropped(tmp_path: Path) -> None:
    gone = _write(tmp_path / "gone.jpg")
    forgotten = _write(tmp_path / "forgotten.jpg")
    settler = Settler(QUIET)
    settler.changed(gone, 100.0)
    settler.changed(forgotten, 100.0)
    gone.unlink()
    settler.forget(forgotten)
    assert settler.settled(200.0) == [] and len(settler) == 0


def test_a_raw_jpeg_pair_settles_together(tmp_path: Path) -> None:
    jpeg = _write(tmp_path / "IMG_0001.JPG")
    raw = _write(tmp_path / "IMG_0001.CR2")
    other = _write(tmp_path / "IMG_0002.JPG")
    settler = Settler(QUIET)
    settler.changed(jpeg, 100.0, closed=True)
    settler.changed(other, 100.0, closed=True)
    settler.changed(raw, 100.0)  # the RAW is still being copied
    assert [s.path for s in settler.settled(100.5)] == [other]
    settler.changed(raw, 101.0, closed=True)
    assert sorted(s.path for s in settler.settled(101.0 + QUIET * CLOSED_QUIET_FRACTION)) == [raw, jpeg]


def test_a_pair_whose_partner_is_deleted_settles_alone(tmp_path: Path) -> None:
    jpeg = _write(tmp_path / "IMG_0001.JPG")
    raw = _write(tmp_path / "IMG_0001.CR2")
    settler = Settler(QUIET)
    settler.changed(jpeg, 100.0, closed=True)
    settler.changed(raw, 100.0)
    assert settler.settled(100.5) == []
    settler.forget(raw)
    assert [s.path for s in settler.settled(100.5)] == [jpeg]


# The Watcher, on real folders with real inotify and polling.


def _collect(watcher: Watcher, until, timeout: float = 10.0) -> dict[Path, str]:
    """Changes from the inbox, waiting on its pipe like the daemon does, until ``until(changes)``."""
    changes: dict[Path, str] = {}
    deadline = time.monotonic() + timeout
    while not until(changes) and time.monotonic() < deadline:
        select.select([watcher.inbox], [], [], 0.2)
        changes.update(watcher.inbox.take())
    return changes


@pytest.fixture
def watched(tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    watcher = Watcher([folder], poll=False, poll_interval=0.2)
    watcher.start()
    yield folder, watcher
    watcher.close()


def test_copies_renames_and_deletes_are_seen(watched) -> None:
    folder, watcher = watched
    assert watcher.kind == "inotify" and watcher.healthy()
    _write(folder / "plain.jpg")
    _write(folder / "IMG_0002.JPG.part")
    os.rename(folder / "IMG_0002.JPG.part", folder / "IMG_0002.JPG")
    _write(folder / "doomed.jpg")
    (folder / "doomed.jpg").unlink()
    changes = _collect(watcher, lambda c: c.get(folder / "doomed.jpg") == "gone")
    assert changes[folder / "plain.jpg"] == "closed"
    assert changes[folder / "IMG_0002.JPG"] == "closed"  # renamed into place: complete
    assert folder / "IMG_0002.JPG.part" not in changes


def test_sidecars_temp_and_hidden_names_are_ignored(watched) -> None:
    folder, watcher = watched
    for name in ["a.jpg.xmp", "a.xmp", ".hidden.jpg", "b.jpg.tmp", "c.jpg~", "d.jpg.crdownload",
                 "notes.txt", ".thumbnails/e.jpg"]:
        _write(folder / name)
    _write(folder / "last.jpg")
    changes = _collect(watcher, lambda c: folder / "last.jpg" in c)
    photos = {path for path, kind in changes.items() if kind != "folder"}
    assert photos == {folder / "last.jpg"}


@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")  # watchdog's own mkdir -p race
def test_new_folders_are_reported_for_a_scan(watched) -> None:
    folder, watcher = watched
    _write(folder / "2024" / "trip" / "x.jpg")
    changes = _collect(watcher, lambda c: folder / "2024" / "trip" in c and folder / "2024" / "trip" / "x.jpg" in c)
    assert changes[folder / "2024"] == "folder" and changes[folder / "2024" / "trip"] == "folder"
    assert folder / "2024" / "trip" / "x.jpg" in changes


def test_the_inbox_holds_one_entry_per_path(watched) -> None:
    folder, watcher = watched
    with (folder / "slow.jpg").open("wb") as f:
        for _ in range(200):
            f.write(b"x" * 1000)
            f.flush()
    _write(folder / "end.jpg")
    changes = _collect(watcher, lambda c: folder / "end.jpg" in c)
    assert changes[folder / "slow.jpg"] == "closed"


def test_polling_sees_new_photos(tmp_path: Path) -> None:
    watcher = Watcher([tmp_path], poll=True, poll_interval=0.2)
    watcher.start()
    try:
        assert watcher.kind == "polling" and watcher.healthy()
        _write(tmp_path / "a.jpg")
        changes = _collect(watcher, lambda c: tmp_path / "a.jpg" in c)
        assert changes[tmp_path / "a.jpg"] in ("written", "closed")
    finally:
        watcher.close()


def _until_unhealthy(watcher: Watcher, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while watcher.healthy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not watcher.healthy()


def test_a_missing_folder_is_warned_about_and_watched_for(tmp_path: Path, caplog) -> None:
    """A card or a share mounted later: no error, and its photos are seen once it is there."""
    present, later = tmp_path / "photos", tmp_path / "card"
    present.mkdir()
    watcher = Watcher([present, later], poll=False, poll_interval=0.2)
    watcher.start()
    try:
        assert f"{later}: folder to watch does not exist; watching for it to appear" in caplog.text
        assert watcher.watched == (present,) and watcher.missing == (later,) and watcher.healthy()
        later.mkdir()
        assert not watcher.healthy()
        assert watcher.recover() == (later,)
        assert watcher.watched == (present, later) and watcher.kind == "inotify" and watcher.healthy()
        _write(later / "a.jpg")
        assert later / "a.jpg" in _collect(watcher, lambda c: later / "a.jpg" in c)
    finally:
        watcher.close()
        watcher.close()  # twice is harmless (a reload that failed half-way)


def test_a_folder_deleted_and_made_again_is_watched_again_with_inotify(tmp_path: Path, caplog) -> None:
    """Not a false "inotify watch limit reached" and polling for ever after."""
    kept, doomed = tmp_path / "kept", tmp_path / "doomed"
    kept.mkdir()
    doomed.mkdir()
    watcher = Watcher([kept, doomed], poll=False, poll_interval=0.2)
    watcher.start()
    try:
        doomed.rmdir()
        _until_unhealthy(watcher)
        assert watcher.recover() == ()
        assert f"{doomed}: watched folder is gone; watching for it to come back" in caplog.text
        assert watcher.watched == (kept,) and watcher.kind == "inotify" and watcher.healthy()
        shutil.rmtree(kept)
        _until_unhealthy(watcher)
        assert watcher.recover() == () and watcher.watched == () and watcher.healthy()  # none left: still alive
        doomed.mkdir()
        assert watcher.recover() == (doomed,) and watcher.kind == "inotify"
        assert "inotify watch limit" not in caplog.text
        _write(doomed / "a.jpg")
        assert doomed / "a.jpg" in _collect(watcher, lambda c: doomed / "a.jpg" in c)
    finally:
        watcher.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_card_mounted_on_a_watched_folder_is_watched_and_scanned(tmp_path: Path) -> None:
    """The mount hides the folder inotify watched: its device changes, so it is watched anew."""
    point = tmp_path / "card"
    point.mkdir()
    watcher = Watcher([point], poll=False, poll_interval=0.2)
    watcher.start()
    try:
        assert watcher.healthy()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)], check=True)
        try:
            assert not watcher.healthy() and watcher.recover() == (point,)
            _write(point / "DCIM" / "a.jpg")
            assert point / "DCIM" / "a.jpg" in _collect(watcher, lambda c: point / "DCIM" / "a.jpg" in c)
        finally:
            subprocess.run(["umount", str(point)], check=True)
        assert not watcher.healthy() and watcher.recover() == (point,)
    finally:
        watcher.close()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = "echo 9 > /proc/sys/user/max_inotify_watches"
    return subprocess.run(["unshare", "-U", "-r", "sh", "-c", probe], capture_output=True).returncode == 0


needs_userns = pytest.mark.skipif(not _unshare_works(), reason="cannot lower inotify limits in a user namespace here")

_LIMITED = textwrap.dedent(
    """
    import logging, os, sys, time
    from pathlib import Path
    from blurwatch.watcher import Watcher
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = Path(sys.argv[1])
    watcher = Watcher([folder], poll=False, poll_interval=0.2)
    watcher.start()
    print("started", watcher.kind, flush=True)
    for i in range(4):
        (folder / f"new{i}").mkdir()
    time.sleep(0.5)
    if not watcher.healthy():
        watcher.recover()
    print("later", watcher.kind, flush=True)
    (folder / "new3" / "a.jpg").write_bytes(b"x")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and folder / "new3" / "a.jpg" not in watcher.inbox.take():
        time.sleep(0.1)
    print("seen", time.monotonic() < deadline, flush=True)
    watcher.close()
    """
)


@needs_userns
@pytest.mark.parametrize("limit, first", [(2, "polling"), (5, "inotify")])
def test_running_out_of_inotify_watches_falls_back_to_polling(tmp_path: Path, limit: int, first: str) -> None:
    """Real exhaustion: a user namespace with a low fs.inotify watch limit (2 is below the tree)."""
    folder = tmp_path / "photos"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
    command = f"echo {limit} > /proc/sys/user/max_inotify_watches && exec {sys.executable} -c \"$0\" {folder}"
    proc = subprocess.run(["unshare", "-U", "-r", "sh", "-c", command, _LIMITED], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == [f"started {first}", "later polling", "seen True"]
    assert "inotify watch limit reached" in proc.stderr and str(folder) in proc.stderr
