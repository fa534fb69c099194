"""The daemon's state database: skip finished work, survive kill -9, rebuild when corrupt."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from blurwatch.bursts import Membership
from blurwatch.capture import Capture
from blurwatch.state import DB_NAME, SCHEMA_VERSION, Activity, DaemonStatus, Stamp, StateDB, StoredFrame


@pytest.fixture
def db(tmp_path: Path):
    with StateDB.in_dir(tmp_path / "state") as state:
        yield state


def test_a_photo_is_done_only_for_the_same_size_mtime_and_model(db: StateDB) -> None:
    photo = Path("/photos/IMG_0001.JPG")
    db.record(photo, Stamp(1000, 123), "m1", "keep", seconds=0.2)
    assert db.is_done(photo, Stamp(1000, 123), "m1")
    assert not db.is_done(photo, Stamp(1001, 123), "m1")
    assert not db.is_done(photo, Stamp(1000, 124), "m1")
    assert not db.is_done(photo, Stamp(1000, 123), "m2")
    assert not db.is_done(Path("/photos/IMG_0002.JPG"), Stamp(1000, 123), "m1")


def test_a_changed_photo_replaces_its_row(db: StateDB) -> None:
    photo = Path("/photos/a.jpg")
    db.record(photo, Stamp(1, 1), "m1", error="truncated")
    db.record(photo, Stamp(2, 2), "m1", "reject", ("blurry",))
    assert db.activity(0).verdicts == {"reject": 1}
    assert db.activity(0).broken == 0
    assert db.last_errors() == []


def test_summary_and_last_errors(db: StateDB) -> None:
    for i, verdict in enumerate(["keep", "keep", "review", "reject"]):
        db.record(Path(f"/p/{i}.jpg"), Stamp(i, i), "m1", verdict)
    db.record(Path("/p/broken.nef"), Stamp(5, 5), "m1", error="/p/broken.nef: truncated")
    summary = db.activity(0)
    assert summary.verdicts == {"keep": 2, "review": 1, "reject": 1}
    assert summary.processed == 4 and summary.broken == 1
    assert [e.path for e in db.last_errors()] == ["/p/broken.nef"]
    assert db.activity(since=2**40).processed == 0


def test_status_row_round_trips(db: StateDB) -> None:
    assert db.status() is None
    status = DaemonStatus(42, "watching", 1.0, 2.0, 3, 4, ("/a", "/b"), "inotify", "m1")
    db.set_status(status)
    db.set_status(status)
    assert db.status() == status


def test_a_reader_sees_rows_while_the_daemon_holds_the_database(tmp_path: Path) -> None:
    with StateDB.in_dir(tmp_path) as writer, StateDB.in_dir(tmp_path, readonly=True) as reader:
        writer.record(Path("/p/a.jpg"), Stamp(1, 1), "m1", "keep")
        assert reader.activity(0).processed == 1


def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from blurwatch.state import StateDB, Stamp
        db = StateDB.in_dir(Path({str(tmp_path)!r}))
        for i in range(50):
            db.record(Path(f"/p/{{i}}.jpg"), Stamp(i, i), "m1", "keep")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with StateDB.in_dir(tmp_path) as db:
        assert db.activity(0).processed == 50
        assert db.is_done(Path("/p/49.jpg"), Stamp(49, 49), "m1")


def test_a_corrupt_database_is_moved_aside_and_rebuilt(tmp_path: Path, caplog) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not an SQLite database, it is a shopping list" * 100)
    with caplog.at_level(logging.WARNING, logger="blurwatch.state"), StateDB.in_dir(tmp_path) as db:
        db.record(Path("/p/a.jpg"), Stamp(1, 1), "m1", "keep")
        assert db.activity(0).processed == 1
    aside = [p for p in os.listdir(tmp_path) if p.startswith(f"{DB_NAME}.corrupt-")]
    assert len(aside) == 1
    assert str(tmp_path / DB_NAME) in caplog.text and "rebuilt" in caplog.text


def test_a_database_damaged_inside_is_rebuilt(tmp_path: Path) -> None:
    with StateDB.in_dir(tmp_path) as db:
        for i in range(300):
            db.record(Path(f"/p/{i:04}-{'x' * 200}.jpg"), Stamp(i, i), "m1", "keep")
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 4] = os.urandom(4096 * 2)  # wreck pages of the table and its index
    path.write_bytes(bytes(data))
    with StateDB.in_dir(tmp_path) as db:
        assert db.activity(0).processed == 0
    assert any(p.startswith(f"{DB_NAME}.corrupt-") for p in os.listdir(tmp_path))


def test_stamp_of_a_missing_file_or_a_folder_is_none(tmp_path: Path) -> None:
    assert Stamp.of(tmp_path / "gone.jpg") is None
    assert Stamp.of(tmp_path) is None
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"1234")
    stamp = Stamp.of(photo)
    assert stamp is not None and stamp.size == 4 and stamp.mtime_ns == photo.stat().st_mtime_ns


def test_a_path_that_is_not_utf8_is_a_key_like_any_other(db: StateDB) -> None:
    """SQLite text holds no undecodable bytes: such a name is kept as bytes, and the daemon no longer dies on it."""
    photo = Path("/photos") / os.fsdecode(b"caf\xe9.jpg")
    other = Path("/photos/caf\u00e9.jpg")  # the same name spelled right: another file
    db.record(photo, Stamp(1000, 123), "m1", error=f"{photo}: truncated")
    assert db.is_done(photo, Stamp(1000, 123), "m1") and not db.is_done(other, Stamp(1000, 123), "m1")
    [broken] = db.last_errors()
    assert broken.path == str(photo) and broken.error == "/photos/caf\\xe9.jpg: truncated"


V1_SCHEMA = """
CREATE TABLE photos (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    model_version TEXT NOT NULL, verdict TEXT, reasons TEXT NOT NULL DEFAULT '', error TEXT, seconds REAL,
    done_at REAL NOT NULL);
CREATE TABLE daemon (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, phase TEXT NOT NULL,
    started_at REAL NOT NULL, heartbeat REAL NOT NULL, waiting INTEGER NOT NULL, in_queue INTEGER NOT NULL,
    folders TEXT NOT NULL, observer TEXT NOT NULL, model_version TEXT NOT NULL);
INSERT INTO photos VALUES ('/p/IMG_1.jpg', 10, 20, 'm1', 'keep', '', NULL, 0.1, 1.0);
PRAGMA user_version = 1;
"""


def test_a_version_1_database_gains_the_frames_table_and_keeps_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as old:
        old.executescript(V1_SCHEMA)

    with StateDB.in_dir(tmp_path) as db:
        assert db.is_done(Path("/p/IMG_1.jpg"), Stamp(10, 20), "m1")
        taken = Capture("Canon R6 #1", 5.0, "exif", "00ff00ff00ff00ff")
        group = Membership("burst", "IMG_1-abc", 3, True)
        db.record_frame((Path("/p/IMG_1.jpg"), Path("/p/IMG_1.CR3")), taken, None)
        assert [(f.photos, f.capture, f.group, f.open) for f in db.open_frames()] == [
            ((Path("/p/IMG_1.jpg"), Path("/p/IMG_1.CR3")), taken, None, True)]
        db.close_frames({Path("/p/IMG_1.jpg"): group})
        assert db.open_frames() == [] and [f.group for f in db.frames_in_group("IMG_1-abc")] == [group]
    with sqlite3.connect(tmp_path / DB_NAME) as reopened:
        assert reopened.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_a_frame_whose_name_is_not_utf8_is_kept_like_any_other(db: StateDB) -> None:
    photo = Path("/photos") / os.fsdecode(b"caf\xe9.jpg")
    taken = Capture("", 5.0, "mtime", "00ff00ff00ff00ff")

    db.record_frame((photo,), taken, None)
    db.close_frames({photo: Membership("burst", "caf-1", 2, True)})

    [frame] = db.frames_between(StoredFrame((photo,), taken, None, False), 0.0, 10.0)
    assert (frame.photo, frame.group) == (photo, Membership("burst", "caf-1", 2, True))


def test_the_burst_stage_revises_a_scored_verdict_and_keeps_the_version_it_was_scored_at(db: StateDB) -> None:
    frame, broken = Path("/p/IMG_2.jpg"), Path("/p/IMG_3.jpg")
    db.record(frame, Stamp(10, 20), "m1", "keep")
    db.record(broken, Stamp(10, 20), "m1", error=f"{broken}: truncated")

    db.revise((frame, broken), "review", ("burst",))

    assert db.activity(0.0) == Activity({"review": 1}, 1)  # the broken photo stays broken
    assert db.is_done(frame, Stamp(10, 20), "m1")
