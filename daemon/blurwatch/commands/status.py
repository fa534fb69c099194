"""``blurwatch status``: what the watch daemon is doing, read from its state database.

The daemon rewrites a status row every couple of seconds (its heartbeat); a row whose
process is gone or whose heartbeat is old means the daemon is not running, whatever
phase it last wrote. Exit status 0 when it runs, 3 when not (as ``systemctl status``).

The state is looked for where this user's daemon keeps it (``watch.state_dir``, else
``$XDG_STATE_HOME/blurwatch``) and where the system unit ``blurwatch@USER`` keeps it
(``/var/lib/blurwatch/USER/blurwatch``); the one last written wins.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from blurwatch.config import Config
from blurwatch.errors import DaemonError, shown
from blurwatch.state import DB_NAME, Activity, BrokenPhoto, DaemonStatus, StateDB

EXIT_NOT_RUNNING = 3
# A heartbeat older than this means the daemon is hung or gone (it beats every 2 s).
STALE_SECONDS = 30.0
# systemd's StateDirectory= of blurwatch@.service, under which it runs for each user.
SYSTEM_STATE_ROOT = Path("/var/lib/blurwatch")


@dataclass(frozen=True)
class StatusReport:
    state_file: Path
    running: bool
    daemon: DaemonStatus | None
    today: Activity
    last_errors: list[BrokenPhoto]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show what the watch daemon is doing",
        description="Show whether the watch daemon runs, its queue, what it did today and its last errors. "
        "Exit status 0 when it runs, 3 when it does not.",
    )
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    state_file = find_state_file(config)
    if state_file.is_file():
        report = read_status(state_file, time.time())
    else:
        report = StatusReport(state_file, False, None, Activity(), [])
    if args.json:
        print(json.dumps(_as_json(report), indent=2))
    else:
        print(format_status(report))
    return 0 if report.running else EXIT_NOT_RUNNING


def find_state_file(config: Config) -> Path:
    """This user's daemon's state database: the user service's or the system unit's, the last written."""
    own = config.watch.state_path() / DB_NAME
    system = SYSTEM_STATE_ROOT / getpass.getuser() / "blurwatch" / DB_NAME
    found = [path for path in (own, system) if path.is_file()]
    return max(found, key=_last_written) if found else own


def _last_written(database: Path) -> float:
    """When the database was last written: in WAL mode the heartbeat lands in its ``-wal`` file first."""
    wal = database.with_name(database.name + "-wal")
    return max(database.stat().st_mtime, wal.stat().st_mtime if wal.exists() else 0.0)


def read_status(state_file: Path, now: float) -> StatusReport:
    """Everything ``status`` shows, from the state database opened read-only."""
    midnight = datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    try:
        with StateDB(state_file, readonly=True) as state:
            daemon = state.status()
            today = state.activity(since=midnight)
            errors = state.last_errors(5)
    except sqlite3.DatabaseError as exc:
        raise DaemonError(f"{state_file}: cannot read the daemon's state: {exc}") from exc
    return StatusReport(state_file, _running(daemon, now), daemon, today, errors)


def format_status(report: StatusReport) -> str:
    daemon = report.daemon
    if daemon is None:
        lines = ["blurwatch daemon: has never run with this state folder"]
    else:
        lines = [f"blurwatch daemon: {_state_words(report)} (pid {daemon.pid}, since {_when(daemon.started_at)})",
                 f"  watching:  {', '.join(shown(f) for f in daemon.folders)} ({daemon.observer})"]
        if report.running:
            lines.append(f"  queue:     {daemon.waiting} waiting, {daemon.in_queue} being scored")
        lines.append(f"  model:     {daemon.model_version}")
    verdicts = ", ".join(f"{report.today.verdicts.get(v, 0)} {v}" for v in ("keep", "review", "reject"))
    lines.append(f"  today:     {report.today.processed} scored ({verdicts}), {report.today.broken} broken")
    if report.last_errors:
        lines.append("  last errors:")
        lines += [f"    {_when(e.done_at)}  {e.error}" for e in report.last_errors]
    lines.append(f"  state:     {report.state_file}")
    return "\n".join(lines)


def _running(daemon: DaemonStatus | None, now: float) -> bool:
    if daemon is None or daemon.phase == "stopped" or now - daemon.heartbeat > STALE_SECONDS:
        return False
    try:
        os.kill(daemon.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, run by another user (a system unit)
        return True
    return True


def _state_words(report: StatusReport) -> str:
    assert report.daemon is not None
    if report.running:
        return report.daemon.phase
    if report.daemon.phase == "stopped":
        return f"stopped at {_when(report.daemon.heartbeat)}"
    return f"not running (last seen {_when(report.daemon.heartbeat)}, it did not stop cleanly)"


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp)
    today = datetime.date.today()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M")


def _as_json(report: StatusReport) -> dict[str, Any]:
    return {
        "state_file": str(report.state_file),
        "running": report.running,
        "daemon": asdict(report.daemon) if report.daemon else None,
        "today": {"processed": report.today.processed, "verdicts": report.today.verdicts,
                  "broken": report.today.broken},
        "last_errors": [asdict(e) for e in report.last_errors],
    }
