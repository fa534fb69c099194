"""The command line end to end: the real program in a subprocess, on copies of real photos."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blurwatch import cli, commands
from blurwatch.sharpness import default_model_dir

from conftest import SHARED_DATA

real_photos = pytest.mark.usefixtures("real_photos_and_model")

RAW_STUB = "raw/NEF/exiftool__Nikon.nef"  # metadata only: cannot be decoded
DNG = "raw/DNG/tinydng__colorchart.dng"


@pytest.fixture
def real_photos_and_model() -> None:
    """Skip unless the team's photos and the shipped model are both there."""
    if not (SHARED_DATA / "photos" / "manifest.csv").is_file():
        pytest.skip(f"the team's real photos are not at {SHARED_DATA}")
    if not (default_model_dir() / "sharpness.json").is_file():
        pytest.skip("the shipped sharpness model is not built yet")


def blurwatch(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m blurwatch`` with a clean environment (no user config, not under systemd)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    clean["XDG_CONFIG_HOME"] = str(Path(__file__).parent / "no-such-config-home")
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "blurwatch", *map(str, args)],
        capture_output=True, text=True, timeout=300, env=clean, cwd=cwd, stdin=subprocess.DEVNULL,
    )


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def manifest(label: str, count: int) -> list[str]:
    rows = (SHARED_DATA / "photos" / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [f"photos/{row.split(',')[0]}" for row in rows if row.split(",")[1] == label][:count]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.suffix != ".xmp"}


def build_folder(folder: Path, with_broken: bool) -> None:
    """A few real photos, a RAW+JPEG pair, a hidden file and optionally an undecodable RAW."""
    folder.mkdir(parents=True)
    for relpath in manifest("sharp", 2) + manifest("blurry_natural", 1) + manifest("dark", 1):
        shutil.copy2(SHARED_DATA / relpath, folder / Path(relpath).name)
    shutil.copy2(SHARED_DATA / manifest("sharp", 3)[2], folder / "IMG_0001.jpg")
    shutil.copy2(SHARED_DATA / DNG, folder / "IMG_0001.DNG")
    shutil.copy2(SHARED_DATA / manifest("sharp", 1)[0], folder / ".hidden.jpg")
    if with_broken:
        shutil.copy2(SHARED_DATA / RAW_STUB, folder / "broken.nef")


@pytest.fixture(scope="module")
def culled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess, dict[str, str]]:
    """One real ``--once --json`` run, shared by the tests that look at its results."""
    if not (SHARED_DATA / "photos" / "manifest.csv").is_file() or not (default_model_dir() / "sharpness.json").is_file():
        pytest.skip("needs the team's real photos and the shipped model")
    folder = tmp_path_factory.mktemp("cli") / "photos"
    build_folder(folder, with_broken=True)
    before = digests(folder)
    done = blurwatch("--once", folder, "--json", "--jobs", "2", "--report", folder.parent / "cull.html")
    return folder, done, before


@real_photos
def test_once_json_has_one_object_per_photo(culled) -> None:
    folder, done, _ = culled
    records = {Path(r["path"]).name: r for r in json_lines(done.stdout)}
    expected = {p.name for p in folder.iterdir() if p.suffix.lower() != ".xmp" and not p.name.startswith(".")}
    assert set(records) == expected
    for name, record in records.items():
        if name == "broken.nef":
            continue
        assert record["verdict"] in ("keep", "review", "reject"), record
        assert set(record["reasons"]) <= {"blurry", "dark", "overexposed"}
        assert 0.0 <= record["scores"]["sharpness"] <= 1.0
        assert record["sidecar"] and all(Path(s).is_file() for s in record["sidecar"])
        assert record["path"] == str(folder / name)


@real_photos
def test_once_pair_is_scored_once_and_both_get_sidecars(culled) -> None:
    folder, done, _ = culled
    records = {Path(r["path"]).name: r for r in json_lines(done.stdout)}
    jpeg, raw = records["IMG_0001.jpg"], records["IMG_0001.DNG"]
    assert jpeg["decoded_from"] == raw["decoded_from"] == "jpeg"
    assert jpeg["scores"] == raw["scores"] and jpeg["verdict"] == raw["verdict"]
    assert [Path(s).name for s in jpeg["sidecar"]] == ["IMG_0001.jpg.xmp"]
    assert [Path(s).name for s in raw["sidecar"]] == ["IMG_0001.DNG.xmp"]


@real_photos
def test_once_failure_exits_1_and_is_listed(culled) -> None:
    folder, done, _ = culled
    broken = str(folder / "broken.nef")
    assert done.returncode == 1, done.stderr
    (record,) = [r for r in json_lines(done.stdout) if r["path"] == broken]
    assert set(record) == {"path", "error"} and record["error"].startswith(f"{broken}: ")
    assert f"    {record['error']}" in done.stderr.splitlines()  # in the list at the end
    assert "  failed       1" in done.stderr
    assert not (folder / "broken.nef.xmp").exists()


@real_photos
def test_once_writes_the_report_when_asked(culled) -> None:
    folder, done, _ = culled
    page = folder.parent / "cull.html"
    assert page.is_file() and "broken.nef" in page.read_text(encoding="utf-8")
    assert f"blurwatch: report {page.as_uri()}" in done.stderr.splitlines()


@real_photos
def test_once_never_changes_an_original(culled) -> None:
    folder, _, before = culled
    assert digests(folder) == before
    assert not (folder / ".hidden.jpg.xmp").exists()


@real_photos
def test_verdict_reads_back_what_once_stored(culled) -> None:
    folder, once, _ = culled
    done = blurwatch("verdict", "--json", folder)
    assert done.returncode == 0, done.stderr
    scored = {r["path"]: r for r in json_lines(once.stdout)}
    for record in json_lines(done.stdout):
        if "error" in scored[record["path"]]:
            assert record == {"path": record["path"], "verdict": None}
            continue
        assert record["verdict"] == scored[record["path"]]["verdict"]
        assert record["reasons"] == scored[record["path"]]["reasons"]
        assert record["sidecar"] in scored[record["path"]]["sidecar"]
        assert abs(record["sharpness"] - scored[record["path"]]["scores"]["sharpness"]) < 1e-3
        assert record["rating_is_manual"] is False


@real_photos
def test_dry_run_writes_nothing_and_the_command_form_works(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    build_folder(folder, with_broken=False)
    listing = sorted(p.name for p in folder.iterdir())
    done = blurwatch("once", "--dry-run", "--json", "-j", "1", folder)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == listing
    records = json_lines(done.stdout)
    assert len(records) == len(listing) - 1  # all but the hidden one
    assert all(r["sidecar"] == [] for r in records)
    assert "dry run: nothing written" in done.stderr


def test_a_missing_path_is_a_failure(tmp_path: Path) -> None:
    done = blurwatch("--once", tmp_path / "nowhere")
    assert done.returncode == 1
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in done.stderr


@pytest.mark.parametrize("args", [["--once"], ["once", "--jobs", "0", "."], ["score"], ["frobnicate"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = blurwatch(*args)
    assert done.returncode == 2
    assert "usage: blurwatch" in done.stderr


@real_photos
def test_score_prints_the_verdict_and_why(tmp_path: Path) -> None:
    photo = Path(shutil.copy2(SHARED_DATA / manifest("dark", 1)[0], tmp_path / "dark.jpg"))
    as_json = blurwatch("score", "--json", photo)
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["path"] == str(photo) and result["verdict"] in ("keep", "review", "reject")
    text = blurwatch("score", photo)
    assert text.stdout.startswith(f"{photo}: {result['verdict']}")
    assert "sharpness" in text.stdout and "EV" in text.stdout
    assert sorted(tmp_path.iterdir()) == [photo]


@real_photos
def test_score_of_an_undecodable_file_is_one_line_and_status_1(tmp_path: Path) -> None:
    stub = Path(shutil.copy2(SHARED_DATA / RAW_STUB, tmp_path / "stub.nef"))
    done = blurwatch("score", stub)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"blurwatch: {stub}: ")


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
