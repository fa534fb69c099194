"""The command line itself: parsing, usage errors, log lines; the commands have their own tests."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blurwatch import cli, commands
from conftest import SHARED_DATA
from helpers.cli import RAW_STUB, blurwatch
from helpers.photos import make_photo

real_photos = pytest.mark.usefixtures("real_photos_and_model")


@pytest.fixture
def real_photos_and_model() -> None:
    if not (SHARED_DATA / RAW_STUB).is_file():
        pytest.skip(f"the team's real photos are not at {SHARED_DATA}")


@pytest.mark.parametrize("args", [["--once"], ["once", "--jobs", "0", "."], ["score"], ["frobnicate"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = blurwatch(*args)
    assert done.returncode == 2
    assert "usage: blurwatch" in done.stderr


@real_photos
@pytest.mark.parametrize("under_systemd", [False, True])
def test_log_lines_plain_with_priority_under_systemd(tmp_path: Path, under_systemd: bool) -> None:
    stub = Path(shutil.copy2(SHARED_DATA / RAW_STUB, tmp_path / "stub.nef"))
    if under_systemd:  # the journal is the record: each photo's line shows without -v
        done = blurwatch("--once", stub, env={"INVOCATION_ID": "0123abcd"})
    else:
        done = blurwatch("--once", "-v", stub)
    logged = next(line for line in done.stderr.splitlines() if f"{stub}: " in line)
    if under_systemd:
        assert logged.startswith("<6>blurwatch.")  # journald reads the priority, adds the time
    else:
        assert " INFO blurwatch." in logged and logged[2] == ":"  # "12:34:56 INFO ..."


@real_photos
def test_a_terminal_shows_a_failure_once_in_the_list(tmp_path: Path) -> None:
    stub = Path(shutil.copy2(SHARED_DATA / RAW_STUB, tmp_path / "stub.nef"))
    done = blurwatch("--once", stub)
    assert sum(f"{stub}: " in line for line in done.stderr.splitlines()) == 1


@real_photos
def test_quiet_prints_only_the_failures(tmp_path: Path) -> None:
    stub = Path(shutil.copy2(SHARED_DATA / RAW_STUB, tmp_path / "stub.nef"))
    done = blurwatch("--once", "-q", stub)
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if "photos in" in line] == []
    assert any(line.startswith(f"blurwatch: {stub}: ") for line in done.stderr.splitlines())


@pytest.mark.parametrize(
    "argv, command, paths",
    [
        (["--once", "a", "b"], "once", ["a", "b"]),
        (["-v", "--once", "a", "--json"], "once", ["a"]),
        (["once", "a", "--config", "c.yaml"], "once", ["a"]),
        (["--config", "c.yaml", "--once", "a"], "once", ["a"]),
        ([], commands.DEFAULT, None),
        (["-q"], commands.DEFAULT, None),
    ],
)
def test_parse_args_once_flag_and_default_command(argv: list[str], command: str, paths: list[str] | None) -> None:
    args = cli.parse_args(argv)
    assert args.command == command
    if paths is not None:
        assert [str(p) for p in args.paths] == paths
    assert args.config == ("c.yaml" if "--config" in argv else None)
    assert args.verbose == argv.count("-v") and args.quiet == ("-q" in argv)


@pytest.mark.parametrize("under_systemd", [False, True])
def test_a_log_entry_is_one_line_whatever_names_it_holds(under_systemd: bool, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A name with a newline, an escape sequence or a byte that is not UTF-8 cannot split or break the log."""
    monkeypatch.setenv("INVOCATION_ID", "0123abcd") if under_systemd else monkeypatch.delenv("INVOCATION_ID", False)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    handlers = root.handlers
    try:
        cli.setup_logging(0, False)
        odd = os.fsdecode(b"/p/caf\xe9\n\x1b[2J.jpg")
        logging.getLogger("blurwatch.test").error("%s: truncated JPEG", odd)
    finally:
        root.handlers = handlers
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("blurwatch.test: /p/caf\\xe9\\n\\x1b[2J.jpg: truncated JPEG")


def test_output_read_by_a_program_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """``blurwatch ... | head -1``: no traceback when the reader goes away."""
    for i in range(3):
        make_photo(tmp_path / f"{i}.jpg", seed=i)
    done = subprocess.run(f"{sys.executable} -m blurwatch --once --json --dry-run -j 1 {tmp_path} | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and len(done.stdout) == 10
