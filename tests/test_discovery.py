"""Discovery: which files are photos to score, and RAW+JPEG pairs as one job."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from blurwatch.discovery import find_jobs, group, is_candidate


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("IMG_0001.JPG", True),
        ("img_0001.jpeg", True),
        ("IMG_0001.CR2", True),
        ("DSC_0001.nEf", True),
        ("scan.tif", True),
        (".IMG_0001.JPG", False),  # hidden (rsync, Syncthing and macOS write these)
        ("IMG_0001.JPG.part", False),
        ("IMG_0001.jpg.crdownload", False),
        ("IMG_0001.jpg.tmp", False),
        ("IMG_0001.jpg~", False),
        ("IMG_0001.CR2.xmp", False),
        ("IMG_0001.xmp", False),
        ("notes.txt", False),
        ("IMG_0001", False),
    ],
)
def test_is_candidate_by_name(name: str, expected: bool) -> None:
    assert is_candidate(Path("/photos") / name) is expected


def test_is_candidate_looks_at_folders_below_the_root_only() -> None:
    root = Path("/home/me/.local/photos")  # a hidden folder above the root does not count
    assert is_candidate(root / "2024" / "a.jpg", root)
    assert not is_candidate(root / ".trash" / "a.jpg", root)
    assert not is_candidate(root / "2024" / "@eaDir" / "a.jpg", root)


def test_pairs_are_one_group_jpeg_first_any_case(tmp_path: Path) -> None:
    touch(tmp_path, "IMG_0001.CR2", "img_0001.JPG", "IMG_0002.nef", "IMG_0003.jpg", "IMG_0003.png")
    groups, errors = find_jobs([tmp_path])
    assert errors == []
    assert [[p.name for p in g] for g in groups] == [
        ["img_0001.JPG", "IMG_0001.CR2"],
        ["IMG_0002.nef"],
        ["IMG_0003.jpg"],  # a PNG export of the same name is another picture, not a pair
        ["IMG_0003.png"],
    ]


def test_a_raw_and_heif_pair_is_one_shot_like_raw_and_jpeg() -> None:
    photos = [Path("/p/IMG_1.CR3"), Path("/p/IMG_1.HIF"), Path("/p/IMG_2.heic")]
    assert group(photos) == [(Path("/p/IMG_1.HIF"), Path("/p/IMG_1.CR3")), (Path("/p/IMG_2.heic"),)]


def test_files_of_other_types_are_counted_as_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "a.jpg.xmp", "b.MOV", "c.mov", "d.txt", ".e.mov", "f.gif.part", "README",
          "cull.html", "cull.html.d/x.webp", "sub/g.gif")
    skipped: Counter[str] = Counter()
    groups, _ = find_jobs([tmp_path], skipped)
    assert [g[0].name for g in groups] == ["a.jpg"]
    assert skipped == {".mov": 2, ".txt": 1, "(no extension)": 1, ".gif": 1}


def test_pairs_only_within_one_folder(tmp_path: Path) -> None:
    touch(tmp_path, "raw/IMG_0001.CR2", "jpg/IMG_0001.JPG")
    groups, _ = find_jobs([tmp_path])
    assert sorted(len(g) for g in groups) == [1, 1]


def test_walk_skips_hidden_temp_sidecars_and_thumbnail_folders(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "a.jpg", "a.jpg.xmp", ".b.jpg", "c.jpg.part", "d.jpg~", "e.txt",
        ".thumbnails/f.jpg", "@eaDir/a.jpg/SYNOPHOTO_THUMB_XL.jpg", "cull.html.d/a.jpg", "sub/deeper/g.JPEG",
    )
    groups, errors = find_jobs([tmp_path])
    assert errors == []
    assert [g[0].relative_to(tmp_path).as_posix() for g in groups] == ["a.jpg", "sub/deeper/g.JPEG"]


def test_order_is_sorted_and_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, "b/2.jpg", "b/10.jpg", "a/z.jpg", "B.jpg", "a.jpg")
    monkeypatch.chdir(tmp_path)
    groups, _ = find_jobs([Path(".")])
    names = [g[0].relative_to(tmp_path).as_posix() for g in groups]
    assert names == ["a.jpg", "B.jpg", "a/z.jpg", "b/10.jpg", "b/2.jpg"]
    assert all(g[0].is_absolute() for g in groups)


def test_explicit_files_missing_paths_and_duplicates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    touch(tmp_path, "a.jpg", ".hidden.jpg", "notes.txt")
    groups, errors = find_jobs(
        [tmp_path / "a.jpg", tmp_path, tmp_path / ".hidden.jpg", tmp_path / "notes.txt", tmp_path / "gone.jpg"]
    )
    assert [g[0].name for g in groups] == [".hidden.jpg", "a.jpg"]  # named explicitly: taken; found twice: once
    assert errors == [f"{tmp_path / 'gone.jpg'}: no such file or folder"]
    assert f"{tmp_path / 'notes.txt'}: not a photo" in caplog.text


def test_group_is_usable_on_its_own() -> None:
    photos = [Path("/p/IMG_1.ARW"), Path("/p/IMG_1.jpg"), Path("/p/IMG_2.jpg")]
    assert group(photos) == [(Path("/p/IMG_1.jpg"), Path("/p/IMG_1.ARW")), (Path("/p/IMG_2.jpg"),)]


def test_a_fifo_given_as_an_argument_is_named_for_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    groups, errors = find_jobs([fifo, tmp_path / "gone.jpg"])
    assert groups == []
    assert errors == [f"{fifo}: is a named pipe (FIFO), not a photo or a folder; skipped",
                      f"{tmp_path / 'gone.jpg'}: no such file or folder"]


def test_names_that_are_not_utf8_or_hold_a_newline_are_photos_like_any_other(tmp_path: Path) -> None:
    odd = os.fsdecode(b"caf\xe9.jpg")
    touch(tmp_path, odd, "new\nline.jpg", "IMG_1.jpg", "IMG_1.CR2")
    groups, errors = find_jobs([tmp_path])
    assert errors == []
    assert sorted(groups) == sorted([(tmp_path / odd,), (tmp_path / "new\nline.jpg",),
                                     (tmp_path / "IMG_1.jpg", tmp_path / "IMG_1.CR2")])
