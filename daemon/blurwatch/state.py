"""The daemon's memory: which photos it has handled, and what it is doing now.

A small SQLite database (``state.db`` in ``config.watch.state_path()``). A photo
counts as handled when its path, size, mtime and the model version match a row, so a
restart skips finished work and a changed file or a new model is scored again. Broken
photos get a row too (with their error), which is how each is reported only once.

A photo's path is its key: as text, or, for a name that is not UTF-8 (which SQLite text
cannot hold), as the name's bytes (:func:`key`).

The ``frames`` table keeps what the burst stage needs across restarts: each scored
shot's capture facts, the group its sidecar records, and whether its camera's burst is
still open (:mod:`blurwatch.burst_tracker`). Schema version 2 added it; a version 1
database gains the table when opened.

WAL mode with ``synchronous=NORMAL``: every row is committed before the daemon logs
it, and a ``kill -9`` loses nothing committed. A database that SQLite cannot read is
moved aside and rebuilt: losing the memory costs a re-scan, never the daemon.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from blurwatch.bursts import Membership
from blurwatch.capture import Capture
from blurwatch.errors import one_line

log = logging.getLogger(__name__)

DB_NAME = "state.db"
SCHEMA_VERSION = 2
_MIGRATES_FROM = (0, 1)  # empty, or before the frames table: CREATE ... IF NOT EXISTS adds what is missing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    verdict TEXT,                    -- keep / review / reject; NULL when broken
    reasons TEXT NOT NULL DEFAULT '',
    error TEXT,                      -- why it could not be scored; NULL when scored
    seconds REAL,                    -- time spent on it by the worker
    done_at REAL NOT NULL            -- unix time
);
CREATE INDEX IF NOT EXISTS photos_done_at ON photos (done_at);
CREATE TABLE IF NOT EXISTS daemon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    phase TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    waiting INTEGER NOT NULL,
    in_queue INTEGER NOT NULL,
    folders TEXT NOT NULL,
    observer TEXT NOT NULL,
    model_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
    path TEXT PRIMARY KEY,           -- the shot's first photo (bytes for a name that is not UTF-8, as in photos)
    photos TEXT NOT NULL,            -- JSON list: every photo of the shot (a RAW+JPEG pair)
    folder TEXT NOT NULL,
    camera TEXT NOT NULL,
    clock TEXT NOT NULL,
    taken REAL NOT NULL,
    capture TEXT NOT NULL,           -- JSON of blurwatch.capture.Capture
    grp TEXT,                        -- JSON of the membership its sidecar records; NULL for none
    open INTEGER NOT NULL            -- 1 until its camera's burst is decided
);
CREATE INDEX IF NOT EXISTS frames_run ON frames (folder, camera, clock, taken);
CREATE INDEX IF NOT EXISTS frames_open ON frames (open);
"""


def key(path: Path) -> str | bytes:
    """A photo's key in the database: its path as text, or as bytes when the name is not UTF-8."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return text


@dataclass(frozen=True)
class Stamp:
    """What identifies one version of a file's content, cheaply: size and mtime."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Stamp | None:
        """The file's stamp now, None when it is gone or not a regular file."""
        try:
            info = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return cls(info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class DaemonStatus:
    """The row the daemon keeps current for ``blurwatch status``."""

    pid: int
    phase: str  # starting / watching / reloading / stopping / stopped
    started_at: float
    heartbeat: float
    waiting: int  # files seen, not yet quiet or not yet queued
    in_queue: int  # jobs handed to the workers and not finished
    folders: tuple[str, ...]
    observer: str  # inotify / polling
    model_version: str


@dataclass(frozen=True)
class StoredFrame:
    """A shot as the frames table keeps it."""

    photos: tuple[Path, ...]
    capture: Capture
    group: Membership | None
    open: bool

    @property
    def photo(self) -> Path:
        return self.photos[0]


@dataclass(frozen=True)
class BrokenPhoto:
    path: str
    error: str
    done_at: float


@dataclass(frozen=True)
class Activity:
    """What the daemon did since a point in time (``blurwatch status``: since midnight)."""

    verdicts: dict[str, int] = field(default_factory=dict)
    broken: int = 0

    @property
    def processed(self) -> int:
        return sum(self.verdicts.values())


class StateDB:
    """One connection to the state database, used from one thread."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        else:
            self._conn = _open_or_rebuild(path)

    @classmethod
    def in_dir(cls, state_dir: Path, readonly: bool = False) -> StateDB:
        if not readonly:
            state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / DB_NAME, readonly=readonly)

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def is_done(self, path: Path, stamp: Stamp, model_version: str) -> bool:
        """True when this exact file version was scored, or reported broken, with this model."""
        row = self._conn.execute(
            "SELECT 1 FROM photos WHERE path = ? AND size = ? AND mtime_ns = ? AND model_version = ?",
            (key(path), stamp.size, stamp.mtime_ns, model_version),
        ).fetchone()
        return row is not None

    def record(
        self,
        path: Path,
        stamp: Stamp,
        model_version: str,
        verdict: str | None = None,
        reasons: tuple[str, ...] = (),
        error: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Remember one photo's outcome (a verdict, or the error it was reported with)."""
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO photos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key(path), stamp.size, stamp.mtime_ns, model_version, verdict, ",".join(reasons),
                 None if error is None else one_line(error), seconds, time.time()),
            )

    def record_frame(self, photos: tuple[Path, ...], capture: Capture, group: Membership | None) -> None:
        """Remember a scored shot, its camera's burst open until :meth:`close_frames`."""
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (key(photos[0]), json.dumps([str(p) for p in photos]), key(photos[0].parent), capture.camera,
                 capture.clock, capture.taken, json.dumps(capture.to_json()), _group_json(group)),
            )

    def revise(self, photos: Iterable[Path], verdict: str, reasons: tuple[str, ...]) -> None:
        """The verdict the burst stage left these scored photos with, as their sidecars now hold it.

        Their rows keep the file version and model they were scored with: only the verdict
        changes (a frame of a burst that is not its pick goes to review), so that ``status``
        counts what the photographer will see.
        """
        with self._conn:
            self._conn.executemany("UPDATE photos SET verdict = ?, reasons = ? WHERE path = ? AND error IS NULL",
                                   [(verdict, ",".join(reasons), key(photo)) for photo in photos])

    def close_frames(self, groups: Mapping[Path, Membership | None]) -> None:
        """The burst stage decided these shots: the groups their sidecars now record."""
        with self._conn:
            self._conn.executemany("UPDATE frames SET grp = ?, open = 0 WHERE path = ?",
                                   [(_group_json(group), key(path)) for path, group in groups.items()])

    def forget_frames(self, paths: Iterable[Path]) -> None:
        with self._conn:
            self._conn.executemany("DELETE FROM frames WHERE path = ?", [(key(path),) for path in paths])

    def open_frames(self) -> list[StoredFrame]:
        """Shots whose camera's burst was not decided yet (the daemon stopped first)."""
        return self._frames("open = 1", ())

    def frames_between(self, like: StoredFrame, start: float, end: float) -> list[StoredFrame]:
        """Shots of ``like``'s folder, camera and clock taken from ``start`` to ``end``."""
        return self._frames("folder = ? AND camera = ? AND clock = ? AND taken BETWEEN ? AND ?",
                            (key(like.photo.parent), like.capture.camera, like.capture.clock, start, end))

    def frames_in_group(self, group_id: str) -> list[StoredFrame]:
        return self._frames("json_extract(grp, '$.id') = ?", (group_id,))

    def _frames(self, where: str, args: tuple[object, ...]) -> list[StoredFrame]:
        rows = self._conn.execute(f"SELECT photos, capture, grp, open FROM frames WHERE {where} ORDER BY taken", args)
        return [StoredFrame(tuple(Path(p) for p in json.loads(photos)), Capture.from_json(json.loads(capture)),
                            _group_from_json(grp), bool(is_open)) for photos, capture, grp, is_open in rows]

    def set_status(self, status: DaemonStatus) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO daemon VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (status.pid, status.phase, status.started_at, status.heartbeat, status.waiting,
                 status.in_queue, json.dumps(list(status.folders)), status.observer, status.model_version),
            )

    def status(self) -> DaemonStatus | None:
        row = self._conn.execute(
            "SELECT pid, phase, started_at, heartbeat, waiting, in_queue, folders, observer, model_version"
            " FROM daemon WHERE id = 1"
        ).fetchone()
        if row is None:
            return None
        pid, phase, started_at, heartbeat, waiting, in_queue, folders, observer, model_version = row
        return DaemonStatus(pid, phase, started_at, heartbeat, waiting, in_queue, tuple(json.loads(folders)),
                            observer, model_version)

    def activity(self, since: float) -> Activity:
        verdicts: dict[str, int] = {}
        broken = 0
        for verdict, count in self._conn.execute(
            "SELECT verdict, count(*) FROM photos WHERE done_at >= ? GROUP BY verdict", (since,)
        ):
            if verdict is None:
                broken = count
            else:
                verdicts[verdict] = count
        return Activity(verdicts, broken)

    def errors_of(self, paths: Iterable[Path]) -> dict[Path, str]:
        """The error each of ``paths`` was reported with, for those the daemon found broken."""
        wanted = [str(path) for path in paths]
        errors = {}
        for start in range(0, len(wanted), 500):  # SQLite limits the number of ? in one query
            chunk = wanted[start : start + 500]
            rows = self._conn.execute(f"SELECT path, error FROM photos WHERE error IS NOT NULL AND path IN "
                                      f"({', '.join('?' * len(chunk))})", chunk)
            errors.update({Path(path): error for path, error in rows})
        return errors

    def last_errors(self, limit: int = 5) -> list[BrokenPhoto]:
        rows = self._conn.execute(
            "SELECT path, error, done_at FROM photos WHERE error IS NOT NULL ORDER BY done_at DESC LIMIT ?",
            (limit,),
        )
        return [BrokenPhoto(os.fsdecode(path), error, done_at) for path, error, done_at in rows]


def _group_json(group: Membership | None) -> str | None:
    return None if group is None else json.dumps({"kind": group.kind, **group.to_json()})


def _group_from_json(text: str | None) -> Membership | None:
    if text is None:
        return None
    data = json.loads(text)
    return Membership(data["kind"], data["id"], int(data["size"]), bool(data["best"]))


def _open_or_rebuild(path: Path) -> sqlite3.Connection:
    """Open (creating) the database; move an unreadable one aside and start afresh."""
    try:
        return _open(path)
    except sqlite3.DatabaseError as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.warning("%s: state database unreadable (%s); moved to %s and rebuilt, photos will be re-checked",
                    path, exc, aside)
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.replace(aside.with_name(aside.name + suffix))
        return _open(path)


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (*_MIGRATES_FROM, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema version {version}, expected {SCHEMA_VERSION}")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn
