"""``blurwatch --once``: the real program on copies of real photos, and its summary and JSON made by hand."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from blurwatch import sidecar
from blurwatch.commands import once
from blurwatch.config import Config, SidecarConfig
from blurwatch.job import STEPS, Job, Outcome
from blurwatch.sharpness import default_model_dir
from blurwatch.sidecar import Merged
from commands.conftest import Culled, digests
from conftest import SHARED_DATA
from helpers import shoots
from helpers.cli import blurwatch, build_folder, json_lines, manifest
from helpers.photos import make_photo
from helpers.results import photo_result

real_photos = pytest.mark.usefixtures("real_photos_and_model")


# ---------------------------------------------------------------- the program


def test_once_json_has_one_object_per_photo(culled: Culled) -> None:
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
        assert set(record["timings"]) == set(STEPS)


def test_once_pair_is_scored_once_and_both_get_sidecars(culled: Culled) -> None:
    _, done, _ = culled
    records = {Path(r["path"]).name: r for r in json_lines(done.stdout)}
    jpeg, raw = records["IMG_0001.jpg"], records["IMG_0001.DNG"]
    assert jpeg["decoded_from"] == raw["decoded_from"] == "jpeg"
    assert jpeg["scores"] == raw["scores"] and jpeg["verdict"] == raw["verdict"]
    assert [Path(s).name for s in jpeg["sidecar"]] == ["IMG_0001.jpg.xmp"]
    assert [Path(s).name for s in raw["sidecar"]] == ["IMG_0001.DNG.xmp"]


def test_once_failure_exits_1_and_is_listed(culled: Culled) -> None:
    folder, done, _ = culled
    broken = str(folder / "broken.nef")
    assert done.returncode == 1, done.stderr
    (record,) = [r for r in json_lines(done.stdout) if r["path"] == broken]
    assert set(record) == {"path", "error"} and record["error"].startswith(f"{broken}: ")
    assert f"    {record['error']}" in done.stderr.splitlines()  # in the list at the end
    assert "  failed       1" in done.stderr
    assert not (folder / "broken.nef.xmp").exists()


def test_once_writes_the_report_when_asked(culled: Culled) -> None:
    folder, done, _ = culled
    page = folder.parent / "cull.html"
    assert page.is_file() and "broken.nef" in page.read_text(encoding="utf-8")
    assert f"blurwatch: report {page.as_uri()}" in done.stderr.splitlines()


def test_once_never_changes_an_original(culled: Culled) -> None:
    folder, _, before = culled
    assert digests(folder) == before
    assert not (folder / ".hidden.jpg.xmp").exists()


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


# ---------------------------------------------------------------- summary and records, in process

PAIR = (Path("/p/IMG_1.jpg"), Path("/p/IMG_1.cr2"))


def test_a_pair_that_fails_to_decode_is_one_failure_line_and_two_photos() -> None:
    summary = once.RunSummary(workers=1)
    summary.add(Outcome.failed(Job(PAIR), "/p/IMG_1.cr2: RAW image data missing"))
    summary.add(Outcome(Job((Path("/p/a.jpg"),)), photo_result(Path("/p/a.jpg"), "reject", ("blurry", "dark"))))
    summary.finish()
    out = io.StringIO()
    summary.print(out)
    text = out.getvalue()
    assert summary.photos == 3 and summary.failures == ["/p/IMG_1.cr2: RAW image data missing"]
    assert "  reject       1  (blurry 1, dark 1)" in text and "  failed       1" in text
    quiet = io.StringIO()
    summary.print(quiet, quiet=True)
    assert quiet.getvalue() == "blurwatch: /p/IMG_1.cr2: RAW image data missing\n"


def test_records_name_each_photo_with_its_own_sidecar_or_error() -> None:
    jpeg, raw = PAIR
    config = Config(sidecar=SidecarConfig(naming="darktable"))
    merged = Merged(jpeg, Path("/p/IMG_1.jpg.xmp"), True, 3, True, ())
    outcome = Outcome(Job(PAIR), photo_result(jpeg, "keep"), merges=(merged,),
                      errors={raw: f"{raw}: /p/IMG_1.cr2.xmp: is not valid XML"}, timings={"decode": 0.01})
    good, bad = once.photo_records(outcome, config)
    assert good["path"] == str(jpeg) and good["sidecar"] == ["/p/IMG_1.jpg.xmp"] and good["verdict"] == "keep"
    assert (good["rating"], good["rating_is_manual"]) == (3, True)  # what the sidecar holds, as `verdict` reads it
    assert good["timings"] == {"decode": 0.01}
    assert bad == {"path": str(raw), "error": f"{raw}: /p/IMG_1.cr2.xmp: is not valid XML"}


def test_the_summary_counts_sidecars_ratings_kept_and_types_skipped() -> None:
    summary = once.RunSummary(workers=1, skipped=Counter({".mov": 2, ".txt": 1}))
    jpeg, raw = PAIR
    merges = (Merged(raw, Path("/p/IMG_1.cr2.xmp"), False, -1, False),
              Merged(jpeg, Path("/p/IMG_1.jpg.xmp"), True, 3, True, ("Rating",)))
    summary.add(Outcome(Job(PAIR), photo_result(jpeg, "reject", ("blurry",)), merges=merges))
    summary.finish()
    out = io.StringIO()
    summary.print(out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("blurwatch: 2 photos, 1 RAW+JPEG pair scored once each in ")
    assert lines[0].endswith(", 1 worker)")
    assert "  sidecars: 1 written, 1 unchanged" in lines
    assert "  kept as set by hand: the rating or label of 1 photo (--force replaces them)" in lines
    assert "  skipped: 3 files of a type blurwatch does not read (2 .mov, 1 .txt)" in lines


def test_verbose_lines_name_each_photo_its_verdict_and_its_sidecar() -> None:
    jpeg, raw = PAIR
    merges = (Merged(raw, Path("/p/IMG_1.cr2.xmp"), False, -1, False),
              Merged(jpeg, Path("/p/IMG_1.jpg.xmp"), True, 3, True, ("Rating",)))
    outcome = Outcome(Job(PAIR), photo_result(jpeg, "reject", ("blurry",), score=0.25), merges=merges)
    assert once.photo_lines(outcome, Config()) == [
        "/p/IMG_1.jpg: reject (blurry), sharpness 0.250; sidecar written; rating kept, set by hand",
        "/p/IMG_1.cr2: reject (blurry), sharpness 0.250; sidecar unchanged",
    ]


@real_photos
def test_verbose_shows_each_photo_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for relpath in manifest("sharp", 1) + manifest("blurry_natural", 1):
        shutil.copy2(SHARED_DATA / relpath, folder / Path(relpath).name)
    (folder / "clip.mov").write_bytes(b"not a photo")
    first = blurwatch("--once", "-v", "-j", "1", folder)
    assert first.returncode == 0, first.stderr
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")
    for photo in photos:
        assert any(f"{photo}: " in line and "sharpness" in line for line in first.stderr.splitlines()), first.stderr
    assert "  sidecars: 2 written, 0 unchanged" in first.stderr.splitlines()
    assert "  skipped: 1 file of a type blurwatch does not read (1 .mov)" in first.stderr.splitlines()
    again = blurwatch("--once", "--json", "-j", "1", folder)
    assert "  sidecars: 0 written, 2 unchanged" in again.stderr.splitlines()
    assert all(record["rating_is_manual"] is False for record in json_lines(again.stdout))


# ---------------------------------------------------------------- odd names, odd files

needs_model = pytest.mark.skipif(not (default_model_dir() / "sharpness.json").is_file(),
                                 reason="the shipped sharpness model is not built yet")


@needs_model
def test_odd_names_are_scored_and_a_failure_among_them_is_counted_and_listed(tmp_path: Path) -> None:
    """Names not UTF-8 or holding a newline: scored, sidecars written; a failed write shows in counts, JSON, exit."""
    folder = tmp_path / "photos"
    odd, newline, blocked = (folder / os.fsdecode(b"caf\xe9.jpg"), folder / "two\nlines.jpg",
                             folder / "blocked\n.jpg")
    for seed, photo in enumerate((odd, newline, blocked)):
        make_photo(folder / f"{seed}.jpg", seed=seed).rename(photo)  # OpenCV cannot write such names itself
    blocked.with_name(blocked.name + ".xmp").mkdir()  # its sidecar cannot be written
    done = blurwatch("--once", "--json", "-j", "1", folder)
    assert done.returncode == 1, done.stderr
    records = {r["path"]: r for r in json_lines(done.stdout)}
    assert set(records) == {str(odd), str(newline), str(blocked)}
    assert records[str(odd)]["sidecar"] == [str(odd) + ".xmp"] and records[str(newline)]["sidecar"]
    error = records[str(blocked)]["error"]
    assert error.startswith(f"{folder}/blocked\\n.jpg: {folder}/blocked\\n.jpg.xmp: is not a regular file")
    assert "  failed       1" in done.stderr
    assert f"    {error}" in done.stderr.splitlines()  # the whole failure on one line


def test_a_fifo_given_as_a_path_is_named_for_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    done = blurwatch("--once", fifo)
    assert done.returncode == 1
    assert f"{fifo}: is a named pipe (FIFO), not a photo or a folder; skipped" in done.stderr


def test_a_job_that_met_a_change_is_tried_once_more_at_the_end(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    photo = Path("/p/a.jpg")
    busy = f"{photo}: {photo}.xmp: was saved, or open for writing, by another program each of the 4 times ..."
    rounds: list[list[Job]] = []

    def run_jobs(jobs, config, workers, progress):
        rounds.append(list(jobs))
        for job in jobs:
            yield Outcome(job, photo_result(photo, "keep"), errors={photo: busy}, retry=frozenset(job.photos))

    monkeypatch.setattr(once, "discovery", SimpleNamespace(find_jobs=lambda paths, skipped: ([(photo,)], [])))
    monkeypatch.setattr(once, "run_jobs", run_jobs)
    args = SimpleNamespace(paths=[photo], dry_run=False, force=False, jobs=1, json=True, quiet=False, report=None)
    assert once.run(args, Config()) == 1
    assert rounds == [[Job((photo,))]] * 2  # the first outcome held back, counted once after the second try
    [record] = json_lines(capsys.readouterr().out)
    assert record["error"] == f"{busy}; tried twice: run blurwatch --once on it again when nothing else writes it"


# ---------------------------------------------------------------- bursts and brackets


@pytest.fixture(scope="session")
def shot(real_photos_and_model: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[shoots.Shoot, list[dict]]:
    """The issue's test shoot culled by ``--once --json``: (what it holds, the JSON records)."""
    folder = tmp_path_factory.mktemp("shoot") / "card"
    made = shoots.shoot(folder, SHARED_DATA)
    done = blurwatch("--once", folder, "--json", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    return made, json_lines(done.stdout)


def test_once_groups_every_burst_with_exactly_its_frames_and_picks_the_sharp_one(shot) -> None:
    made, records = shot
    by_name = {Path(r["path"]).name: r for r in records}
    for frames, sharp in made.bursts.values():
        groups = {by_name[p.name]["burst"]["id"] for p in frames}
        assert len(groups) == 1, [by_name[p.name].get("burst") for p in frames]
        members = [name for name, r in by_name.items() if r.get("burst", {}).get("id") in groups]
        assert sorted(members) == sorted(p.name for p in frames)
        assert [p.name for p in frames if by_name[p.name]["burst"]["best"]] == [sharp.name]
        assert by_name[sharp.name]["verdict"] != "reject"
        for photo in frames:
            record = by_name[photo.name]
            assert record["burst"]["size"] == len(frames)
            if photo != sharp:  # a lesser frame: rejected as blurry, or sent to review as one
                assert record["verdict"] == "reject" or "burst" in record["reasons"], record
    assert len({by_name[frames[0].name]["burst"]["id"] for frames, _ in made.bursts.values()}) == 2


def test_once_leaves_single_frames_alone_and_never_rejects_a_bracket_frame(shot) -> None:
    made, records = shot
    by_name = {Path(r["path"]).name: r for r in records}
    for photo in made.singles:
        assert "burst" not in by_name[photo.name] and "bracket" not in by_name[photo.name]
    brackets = {by_name[p.name]["bracket"]["id"] for p in made.bracket}
    assert len(brackets) == 1
    assert sum(by_name[p.name]["bracket"]["best"] for p in made.bracket) == 1
    for photo in made.bracket:
        assert by_name[photo.name]["verdict"] != "reject", by_name[photo.name]
        assert not {"dark", "overexposed"} & set(by_name[photo.name]["reasons"])


def test_once_again_changes_no_byte_and_a_dry_run_shows_the_same_groups(shot) -> None:
    made, records = shot
    folder = made.singles[0].parent
    sidecars = {p.name: p.read_bytes() for p in folder.glob("*.xmp")}
    again = blurwatch("--once", folder, "--json", "--jobs", "2")
    dry = blurwatch("--once", folder, "--json", "--dry-run")

    assert {p.name: p.read_bytes() for p in folder.glob("*.xmp")} == sidecars
    for run in (again, dry):
        assert {r["path"]: (r["verdict"], r.get("burst"), r.get("bracket")) for r in json_lines(run.stdout)} == {
            r["path"]: (r["verdict"], r.get("burst"), r.get("bracket")) for r in records}


def test_once_on_one_frame_judges_its_burst_whole(shot) -> None:
    made, records = shot
    frames, _ = made.bursts["A"]
    folder = frames[0].parent
    sidecars = {p.name: p.read_bytes() for p in folder.glob("*.xmp")}

    done = blurwatch("--once", frames[3], "--json")

    by_path = {r["path"]: r for r in json_lines(done.stdout)}
    assert {str(p) for p in frames} <= set(by_path)  # its burst, not just the photo named
    assert by_path[str(frames[3])]["burst"] == next(r["burst"] for r in records if r["path"] == str(frames[3]))
    assert {p.name: p.read_bytes() for p in folder.glob("*.xmp")} == sidecars


def test_once_writes_each_frame_of_a_burst_once(real_photos_and_model: None, tmp_path: Path) -> None:
    """Frames with neighbours in time wait for the burst stage: one write with their group, not two."""
    image = shoots.load(SHARED_DATA / shoots.SCENES["A"], 600)
    frames = shoots.burst(tmp_path, image, "A", shoots.START, frames=3, sharp=1)
    alone = shoots.single(tmp_path, shoots.load(SHARED_DATA / shoots.SCENES["S3"], 600), "S3",
                          shoots.START + timedelta(seconds=60))

    done = blurwatch("-vv", "--once", tmp_path, "--jobs", "1")

    writes = re.findall(r"(\S+\.xmp): wrote verdict", done.stderr)
    assert sorted(Path(w).name for w in writes) == sorted(f"{p.name}.xmp" for p in [*frames, alone]), done.stderr
    assert all(sidecar.read_verdict(p).group is not None for p in frames)
