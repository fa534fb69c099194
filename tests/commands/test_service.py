"""``blurwatch service``: the user unit it writes (systemd-analyze checks it), what it asks systemctl, undoing it."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SHARED_DATA, requires_program
from helpers.cli import blurwatch, manifest

PROGRAM = Path(sys.executable).with_name("blurwatch")

# A stand-in systemctl: records its arguments, and answers like a user manager, or like none.
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "$SYSTEMCTL_CALLS"
if [ -n "$SYSTEMCTL_NO_BUS" ]; then echo "Failed to connect to bus: No medium found" >&2; exit 1; fi
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL, encoding="utf-8")
    fake.chmod(0o755)
    return tmp_path


def environment(home: Path, no_bus: bool = False) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state"),
            "PATH": f"{home / 'bin'}:{os.environ['PATH']}", "SYSTEMCTL_CALLS": str(home / "calls"),
            **({"SYSTEMCTL_NO_BUS": "1"} if no_bus else {})}


def service(home: Path, *args: str | Path, no_bus: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed blurwatch script, as a user runs it (not ``python -m``)."""
    return subprocess.run([str(PROGRAM), "service", *map(str, args)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **environment(home, no_bus)}, stdin=subprocess.DEVNULL)


def calls(home: Path) -> list[str]:
    path = home / "calls"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def unit(home: Path) -> Path:
    return home / "config" / "systemd" / "user" / "blurwatch.service"


def exec_start(text: str) -> list[str]:
    """The command of ExecStart=, unquoted and unescaped as systemd does for the words blurwatch writes."""
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line.removeprefix("ExecStart="))]


def test_install_without_folders_is_refused_and_writes_nothing(home: Path) -> None:
    done = service(home, "install")
    assert done.returncode == 2
    assert "no folders to watch: give them with 'blurwatch service install --folders DIR...'" in done.stderr
    assert not unit(home).exists() and calls(home) == []


def test_install_writes_the_unit_for_this_blurwatch_and_starts_it(home: Path) -> None:
    folders = [home / "My Pictures", home / "100% crop"]  # missing yet, and awkward for a unit file
    done = service(home, "install", "--folders", *folders)
    assert done.returncode == 0, done.stderr
    assert all(folder.is_dir() for folder in folders) and (home / "state" / "blurwatch").is_dir()
    text = unit(home).read_text(encoding="utf-8")
    assert exec_start(text) == [str(PROGRAM), "watch", *map(str, folders)]
    assert f'ReadWritePaths="{home}/My Pictures" "{home}/100%% crop" "{home}/state/blurwatch"' in text
    assert f'Environment="XDG_STATE_HOME={home}/state"' in text  # where `blurwatch status` looks
    assert "RestartPreventExitStatus=2" in text
    assert calls(home) == ["--user daemon-reload", "--user enable blurwatch.service",
                           "--user restart blurwatch.service"]
    assert f"wrote {unit(home)}" in done.stdout and "enabled and started blurwatch" in done.stdout

    again = service(home, "install", "--folders", folders[0])  # a new folder list: the unit is rewritten
    assert again.returncode == 0 and exec_start(unit(home).read_text(encoding="utf-8"))[-1] == str(folders[0])


def test_without_a_user_manager_it_says_what_to_run(home: Path) -> None:
    done = service(home, "install", "--folders", home / "p", no_bus=True)
    assert done.returncode == 0, done.stderr
    assert unit(home).is_file()
    assert "no systemd user manager answers here (Failed to connect to bus: No medium found)" in done.stdout
    assert "systemctl --user daemon-reload && systemctl --user enable --now blurwatch" in done.stdout


def test_the_configuration_in_use_goes_into_the_unit(home: Path) -> None:
    config = home / "config" / "blurwatch" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"watch:\n  folders: [{home / 'incoming'}]\n", encoding="utf-8")
    done = service(home, "install", "--no-start")
    assert done.returncode == 0, done.stderr
    assert exec_start(unit(home).read_text(encoding="utf-8")) == [str(PROGRAM), "--config", str(config), "watch",
                                                                  str(home / "incoming")]
    assert calls(home) == []


def test_uninstall_stops_and_removes_it_and_twice_is_harmless(home: Path) -> None:
    service(home, "install", "--folders", home / "p")
    done = service(home, "uninstall")
    assert done.returncode == 0 and not unit(home).exists()
    assert calls(home)[-2:] == ["--user disable --now blurwatch.service", "--user daemon-reload"]
    assert f"removed {unit(home)}" in done.stdout
    again = service(home, "uninstall")
    assert again.returncode == 0 and "no blurwatch user service is installed" in again.stdout


@pytest.mark.integration
@requires_program("systemd-analyze")
def test_the_written_unit_passes_systemd_analyze_verify(home: Path, tmp_path: Path) -> None:
    service(home, "install", "--folders", home / "My Pictures", home / "100% crop", "--no-start")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    done = subprocess.run(["systemd-analyze", "verify", "--user", str(unit(home))], capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(home)}, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.integration
@pytest.mark.usefixtures("real_photos_and_model")
def test_the_units_command_watches_the_folders_it_names(home: Path) -> None:
    """What systemd would run: a photo dropped into the folder gets its sidecar."""
    folder = home / "incoming"
    service(home, "install", "--folders", folder, "--no-start")
    daemon = subprocess.Popen(exec_start(unit(home).read_text(encoding="utf-8")), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, **environment(home)})
    try:
        time.sleep(2)  # watching
        photo = SHARED_DATA / manifest("sharp", 1)[0]
        shutil.copy(photo, folder / photo.name)
        deadline = time.monotonic() + 60
        while not (folder / f"{photo.name}.xmp").exists() and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (folder / f"{photo.name}.xmp").exists()
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, errors = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, errors
    status = blurwatch("status", env=environment(home))
    assert "blurwatch daemon: stopped" in status.stdout, status.stdout
