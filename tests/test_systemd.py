"""sd_notify over a real datagram socket, and the unit file as systemd reads it."""

from __future__ import annotations

import configparser
import logging
import os
import re
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from blurwatch import systemd
from blurwatch.commands import service
from conftest import ROOT, requires_program


@pytest.fixture
def listener(tmp_path: Path, monkeypatch):
    """A datagram socket standing in for systemd, at a filesystem path."""
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        yield sock


def test_messages_reach_the_socket(listener: socket.socket) -> None:
    assert systemd.ready("watching 2 folders")
    assert listener.recv(4096) == b"READY=1\nSTATUS=watching 2 folders"
    assert systemd.watchdog_ping()
    assert listener.recv(4096) == b"WATCHDOG=1"
    assert systemd.stopping()
    assert listener.recv(4096) == b"STOPPING=1"
    assert systemd.status("3 in queue")
    assert listener.recv(4096) == b"STATUS=3 in queue"


def test_reloading_carries_the_monotonic_clock(listener: socket.socket) -> None:
    assert systemd.reloading()
    first, second = listener.recv(4096).decode().split("\n")
    assert first == "RELOADING=1"
    key, usec = second.split("=")
    assert key == "MONOTONIC_USEC" and int(usec) > 0


def test_abstract_namespace_address(monkeypatch) -> None:
    name = f"blurwatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready()
        assert sock.recv(4096) == b"READY=1"


def test_outside_systemd_nothing_is_sent(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert not systemd.ready()
    assert not systemd.watchdog_ping()
    assert systemd.watchdog_interval() is None


def test_an_unreachable_socket_is_a_warning_not_a_crash(tmp_path: Path, monkeypatch, caplog) -> None:
    address = str(tmp_path / "nobody-listens.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    with caplog.at_level(logging.WARNING, logger="blurwatch.systemd"):
        assert not systemd.ready()
    assert address in caplog.text


def test_watchdog_interval_is_for_the_named_process_only(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    monkeypatch.delenv("WATCHDOG_PID")
    assert systemd.watchdog_interval() is None


def _unit_text(name: str, program: str = "/opt/blurwatch/bin/blurwatch") -> str:
    """The system unit as shipped in systemd/, or the user unit as ``blurwatch service install`` writes it."""
    if name == "blurwatch.service":
        return service.render_unit([program], [Path("/home/me/Pictures")], Path("/home/me/.local/state/blurwatch"),
                                   None, state_from_environment=True)
    return re.sub(r"^ExecStart=\S+", f"ExecStart={program}", (ROOT / "systemd" / name).read_text(), flags=re.M)


def _unit(name: str = "blurwatch.service") -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(_unit_text(name))
    return parser


def test_unit_asks_for_notify_watchdog_reload_and_hardening() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "kill -HUP $MAINPID"
    assert int(service["WatchdogSec"]) > 0
    assert service["KillMode"] == "mixed"  # SIGTERM to the daemon only; it stops its workers
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "read-only"
    assert service["PrivateTmp"] == "yes"
    assert "/home/me/Pictures" in service["ReadWritePaths"]
    assert service["RestartPreventExitStatus"] == "2"  # a configuration error is not retried every 5 s


@pytest.mark.integration
@requires_program("systemd-analyze")
@pytest.mark.parametrize(
    "unit_name, installed_as, mode",
    [("blurwatch.service", "blurwatch.service", "--user"),
     ("blurwatch@.service", "blurwatch@alice.service", "--system")],
)
def test_systemd_analyze_verifies_the_units(tmp_path: Path, unit_name: str, installed_as: str, mode: str) -> None:
    # verify resolves ExecStart=; point it at a stand-in executable.
    fake_bin = tmp_path / "bin" / "blurwatch"
    fake_bin.parent.mkdir()
    fake_bin.write_text("#!/bin/sh\n")
    fake_bin.chmod(0o755)
    unit = tmp_path / installed_as
    unit.write_text(_unit_text(unit_name, str(fake_bin)))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    proc = subprocess.run(["systemd-analyze", mode, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_the_system_unit_matches_the_user_unit() -> None:
    """Both units carry the same service settings, but for who runs it and where it writes."""
    user, system = _unit()["Service"], _unit("blurwatch@.service")["Service"]
    differ = {"ExecStart", "ExecStartPre", "ReadWritePaths", "Environment", "StateDirectory", "User",
              "CapabilityBoundingSet"}
    assert {k: v for k, v in user.items() if k not in differ} == {k: v for k, v in system.items() if k not in differ}
    assert system["User"] == "%i"
