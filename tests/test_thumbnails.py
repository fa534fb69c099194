"""Thumbnails: colour, reduced, upright by decoding's rules, cached; a broken photo gets none."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurwatch import thumbnails
from blurwatch.config import Config, DecodeConfig
from conftest import SHARED_DATA, requires_program, requires_shared
from helpers.dng import write_dng
from helpers.photos import make_photo, warm_cool


def test_thumbnails_are_colour_reduced_and_upright(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "big.jpg", size=(3000, 2000))
    thumb = thumbnails.picture(photo, DecodeConfig())
    assert thumb is not None and thumb.shape == (240, 360, 3)
    left, right = thumb[:, :150].mean(axis=(0, 1)), thumb[:, 210:].mean(axis=(0, 1))
    assert left[2] > 150 > left[0] and right[0] > 150 > right[2]  # warm stays warm, cool stays cool


def test_a_small_photo_is_not_upscaled(tmp_path: Path) -> None:
    thumb = thumbnails.picture(make_photo(tmp_path / "small.jpg", size=(200, 120)), DecodeConfig())
    assert thumb is not None and thumb.shape == (120, 200, 3)


@pytest.mark.integration
@requires_program("exiftool")
def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "rotated.jpg", size=(1200, 800))
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Orientation#=6", str(photo)], check=True)
    thumb = thumbnails.picture(photo, DecodeConfig())
    assert thumb is not None and thumb.shape == (360, 240, 3)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("preview_upright", [False, True])
def test_a_dng_thumbnail_is_its_preview_turned_upright_once(tmp_path: Path, orientation: int,
                                                            preview_upright: bool) -> None:
    """The same rule decoding applies: the RAW's orientation, unless the preview is turned already."""
    if preview_upright and orientation == 3:
        pytest.skip("a preview already turned by 180 degrees cannot be told from one that is not")
    sensor = warm_cool()
    dng = write_dng(tmp_path / "IMG_1.DNG", sensor, preview_long_side=600, orientation=orientation,
                    preview_upright=preview_upright)
    turn = {1: None, 3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}[orientation]
    upright = cv2.cvtColor(sensor if turn is None else cv2.rotate(sensor, turn), cv2.COLOR_RGB2BGR)
    thumb = thumbnails.picture(dng, DecodeConfig())
    assert thumb is not None and max(thumb.shape) == 360
    assert thumb.shape[0] / thumb.shape[1] == pytest.approx(upright.shape[0] / upright.shape[1], rel=0.01)
    expected = cv2.resize(upright, (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(thumb.astype(int) - expected).mean() < 12


@pytest.mark.shared
@requires_shared
def test_raw_thumbnails_use_a_big_enough_embedded_preview_else_the_decoder(tmp_path: Path) -> None:
    raw = SHARED_DATA / "raw"
    jpeg_preview = raw / "NEF" / "mei__Issue_247-1.nef"  # a 425x640 JPEG preview
    bitmap_preview = raw / "NEF" / "imageio__Nikon_uncompressed.nef"  # a 320x218 RGB preview
    tiny_preview = raw / "KDC" / "rawpy__RAW_KODAK_DC50_e.KDC"  # 96x64: too small, demosaiced in gray
    thumbs = thumbnails.make_thumbnails([jpeg_preview, bitmap_preview, tiny_preview], tmp_path / "r.html.d", Config())
    assert [(t.width, t.height) for t in thumbs.values() if t] == [(239, 360), (320, 218), (360, 240)]

    def colourfulness(photo: Path) -> float:
        image = cv2.imread(str(tmp_path / "r.html.d" / thumbs[photo].name)).astype(int)
        return float(np.abs(image - image.mean(axis=2, keepdims=True)).mean())

    assert colourfulness(jpeg_preview) > 1.5 and colourfulness(bitmap_preview) > 1.5
    assert colourfulness(tiny_preview) < 0.5  # decoding's grayscale


@pytest.mark.shared
@requires_shared
def test_broken_raw_files_get_no_thumbnail_and_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stubs = [SHARED_DATA / "raw" / p for p in ("CR2/exiftool__CanonRaw.cr2", "ORF/filetype__fixture.orf",
                                                 "ARW/filetype__fixture-sony-zv-e10.arw")]
    before = [s.read_bytes() for s in stubs]
    with caplog.at_level(logging.WARNING, logger="blurwatch.thumbnails"):
        thumbs = thumbnails.make_thumbnails(stubs, tmp_path / "r.html.d", Config())
    assert thumbs == {stub: None for stub in stubs}
    assert all(str(stub) in caplog.text for stub in stubs)
    assert [s.read_bytes() for s in stubs] == before  # originals are only read


def test_thumbnails_are_cached_and_stale_ones_removed(tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(3)]
    thumbs_dir = tmp_path / "r.html.d"
    first = thumbnails.make_thumbnails(photos, thumbs_dir, Config())
    stamps = {p.name: p.stat().st_mtime_ns for p in thumbs_dir.iterdir()}
    assert thumbnails.make_thumbnails(photos, thumbs_dir, Config()) == first
    assert {p.name: p.stat().st_mtime_ns for p in thumbs_dir.iterdir()} == stamps  # nothing remade

    make_photo(photos[0], size=(500, 400), seed=7)  # edited: new size and mtime
    again = thumbnails.make_thumbnails(photos[:2], thumbs_dir, Config())
    assert again[photos[0]] != first[photos[0]] and again[photos[1]] == first[photos[1]]
    assert sorted(p.name for p in thumbs_dir.iterdir()) == sorted(t.name for t in again.values())


def test_a_thumbnail_cut_short_by_a_crash_is_made_again(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "p.jpg")
    folder = tmp_path / "r.html.d"
    thumb = thumbnails.make_thumbnails([photo], folder, Config())[photo]
    assert thumb is not None
    (folder / thumb.name).write_bytes(b"")  # renamed into place, its data never reached the disk
    assert thumbnails.make_thumbnails([photo], folder, Config())[photo] == thumb
    assert (folder / thumb.name).stat().st_size > 0


def test_a_broken_or_vanished_jpeg_gets_no_thumbnail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken, gone = tmp_path / "broken.jpg", tmp_path / "gone.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with caplog.at_level(logging.WARNING, logger="blurwatch.thumbnails"):
        thumbs = thumbnails.make_thumbnails([broken, gone], tmp_path / "r.html.d", Config())
    assert thumbs == {broken: None, gone: None}
    assert f"{broken}: no thumbnail" in caplog.text and f"{gone}: no thumbnail" in caplog.text
