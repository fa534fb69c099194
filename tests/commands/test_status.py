"""``blurwatch status``: what it reads from the state database and how it tells a dead daemon."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blurwatch import cli
from blurwatch.commands import status
from blurwatch.config import Config
from blurwatch.state import DB_NAME, DaemonStatus, Stamp, StateDB


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    with StateDB.in_dir(tmp_path) as db:
        db.record(Path("/p/a.jpg"), Stamp(1, 1), "m1", "keep")
        db.record(Path("/p/b.jpg"), Stamp(1, 1), "m1", "reject", ("blurry",))
        db.record(Path("/p/c.nef"), Stamp(1, 1), "m1", error="/p/c.nef: RAW image data missing")
    return tmp_path


def _beat(state_dir: Path, pid: int, phase: str = "watching", age: float = 0.0) -> None:
    now = time.time()
    with StateDB.in_dir(state_dir) as db:
        db.set_status(DaemonStatus(pid, phase, now - 60, now - age, 7, 2, ("/p",), "inotify", "m1"))


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_running_daemon_shows_its_queue_today_and_errors(state_dir: Path) -> None:
    _beat(state_dir, os.getpid())
    report = status.read_status(state_dir / DB_NAME, time.time())
    assert report.running
    text = status.format_status(report)
    assert "blurwatch daemon: watching" in text
    assert "7 waiting, 2 being scored" in text
    assert "2 scored (1 keep, 0 review, 1 reject), 1 broken" in text
    assert "/p/c.nef: RAW image data missing" in text


@pytest.mark.parametrize("phase, age, words", [
    ("stopped", 0.0, "stopped at"),
    ("watching", 0.0, "did not stop cleanly"),  # its process is gone: killed
    ("watching", 3600.0, "did not stop cleanly"),  # no heartbeat for an hour: hung or gone
])
def test_a_daemon_that_is_not_running_is_told_apart(state_dir: Path, phase: str, age: float, words: str) -> None:
    pid = os.getpid() if age else _dead_pid()
    _beat(state_dir, pid, phase, age)
    report = status.read_status(state_dir / DB_NAME, time.time())
    assert not report.running
    assert words in status.format_status(report)


def test_the_command_exit_status(state_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(f"watch:\n  state_dir: {str(state_dir)!r}\n")
    assert cli.main(["status", "--config", str(config)]) == 3  # photo rows, but no status row: no daemon ran
    assert "has never run" in capsys.readouterr().out
    _beat(state_dir, os.getpid())
    assert cli.main(["status", "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["running"] and report["daemon"]["waiting"] == 7 and report["today"]["broken"] == 1
    config.write_text(f"watch:\n  state_dir: {str(tmp_path / 'never')!r}\n")
    assert cli.main(["status", "--config", str(config), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["daemon"] is None


def test_the_system_units_state_is_found_when_it_is_the_one_last_written(state_dir: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """blurwatch@alice.service keeps its state in /var/lib/blurwatch/alice/blurwatch, not in alice's home."""
    monkeypatch.setattr(status, "SYSTEM_STATE_ROOT", tmp_path / "var-lib-blurwatch")
    monkeypatch.setattr(status.getpass, "getuser", lambda: "alice")
    own = tmp_path / "home-state"
    config = Config().replace(watch=dataclasses.replace(Config().watch, state_dir=str(own)))
    assert status.find_state_file(config) == own / DB_NAME  # nothing anywhere: the user's own place
    system = tmp_path / "var-lib-blurwatch" / "alice" / "blurwatch"
    system.mkdir(parents=True)
    (system / DB_NAME).write_bytes((state_dir / DB_NAME).read_bytes())
    assert status.find_state_file(config) == system / DB_NAME
    with StateDB.in_dir(own):  # a daemon once run by hand, long ago
        pass
    os.utime(own / DB_NAME, (1, 1))
    for leftover in own.glob(f"{DB_NAME}-*"):
        os.utime(leftover, (1, 1))
    assert status.find_state_file(config) == system / DB_NAME
