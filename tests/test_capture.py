"""A frame's capture facts from its EXIF, and the likeness hash on real sequences."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pyexiv2
import pytest

from blurwatch import capture, decoding
from blurwatch.config import BurstConfig, DecodeConfig
from conftest import SHARED_DATA, requires_shared
from helpers import shoots
from helpers.photos import make_photo

LIMIT = BurstConfig().likeness_bits
GRAY = np.tile(np.arange(256, dtype=np.uint8), (200, 1))


def test_facts_from_a_cameras_exif() -> None:
    exif = {"Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS REBEL T2i", "Exif.Canon.SerialNumber": "1823",
            "Exif.Photo.DateTimeOriginal": "2012:07:19 05:16:25", "Exif.Photo.SubSecTimeOriginal": "58",
            "Exif.Photo.ExposureBiasValue": "-2/1", "Exif.Photo.ExposureMode": "2", "Exif.Photo.FNumber": "56/10",
            "Exif.Photo.ExposureTime": "1/20", "Exif.Photo.ISOSpeedRatings": "100"}

    taken = capture.capture(exif, 0.0, GRAY)

    assert taken.camera == "Canon Canon EOS REBEL T2i #1823"
    assert (taken.clock, taken.taken % 60) == ("exif", pytest.approx(25.58))
    assert (taken.bias, taken.auto_bracket) == (-2.0, True)
    assert taken.exposure == pytest.approx(np.log2(5.6**2 * 20))


def test_without_exif_the_mtime_is_the_clock_and_the_camera_is_unknown() -> None:
    taken = capture.capture({"Exif.Photo.DateTimeOriginal": "0000:00:00 00:00:00"}, 1234.5, GRAY)

    assert (taken.camera, taken.clock, taken.taken, taken.bias, taken.exposure) == ("", "mtime", 1234.5, None, None)


def test_camera_burst_tags() -> None:
    assert capture.capture({"Xmp.GCamera.BurstID": "b-1"}, 0, GRAY).burst_id == "b-1"
    assert capture.capture({"Exif.Sony2010e.SequenceImageNumber": "3"}, 0, GRAY).sequence_number == 3


def test_a_phones_burst_id_is_read_from_the_jpegs_xmp(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "PXL_1.jpg")
    pyexiv2.registerNs("http://ns.google.com/photos/1.0/camera/", "GCamera")
    with pyexiv2.Image(str(photo)) as image:
        image.modify_xmp({"Xmp.GCamera.BurstID": "8c1b-burst"})
        image.modify_exif({"Exif.Photo.DateTimeOriginal": "2024:01:02 03:04:05"})

    decoded = decoding.decode(photo, DecodeConfig())

    assert decoded.exif["Xmp.GCamera.BurstID"] == "8c1b-burst"
    assert capture.capture(decoded.exif, 0, decoded.gray).burst_id == "8c1b-burst"


@requires_shared
def test_exif_is_read_from_jpegs_whose_xmp_exiv2_refuses() -> None:
    """These real Canon bracket frames carry XMP with duplicate properties; their EXIF is still there."""
    photo = SHARED_DATA / "more" / "dark" / "banterle__HDR_Toolbox__demos__stack_ghost__IMG_0960.JPG"

    decoded = decoding.decode(photo, DecodeConfig())

    assert decoded.exif["Exif.Photo.ExposureMode"] == "2"
    assert capture.capture(decoded.exif, 0, decoded.gray).clock == "exif"


def _hashes(paths: list[Path]) -> list[str]:
    return [capture.likeness(decoding.decode(p, DecodeConfig()).gray) for p in paths]


def _linked_within(hashes: list[str], limit: int) -> bool:
    """Whether the frames form one group by single linkage at ``limit`` bits (as grouping joins them)."""
    joined = {0}
    while True:
        more = {j for j in range(len(hashes)) for i in joined if capture.difference(hashes[i], hashes[j]) <= limit}
        if more <= joined:
            return len(joined) == len(hashes)
        joined |= more


SEQUENCES = {  # real frames of one scene: shaken, defocused, bracketed
    "Köhler et al. scene 2, twelve recorded hand shakes": "photos/blurry_natural/pmp__Blurry2_*.png",
    "Köhler et al. scene 3, twelve recorded hand shakes": "photos/blurry_natural/pmp__Blurry3_*.png",
    "a Nikon D3400 sharp, defocused, moved": "photos/*/kwentar__106_*",
    "a Honor 7X phone sharp, defocused, moved": "photos/*/kwentar__176_*",
    "a Canon auto bracket, -2/0/+2 EV, hand-held": "more/*/banterle__HDR_Toolbox__demos__stack_alignment__*",
    "a Canon auto bracket, -2/+2 EV": "more/*/banterle__HDR_Toolbox__demos__stack_ghost__*",
    "a Samsung manual bracket of five": "more/*/sycLin__VFX-Project-1__input__scene2__SAM_00*",
}


@requires_shared
@pytest.mark.parametrize("pattern", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_real_frames_of_one_scene_look_alike(pattern: str) -> None:
    paths = sorted(SHARED_DATA.glob(pattern))
    assert len(paths) >= 2

    assert _linked_within(_hashes(paths), LIMIT)


@requires_shared
def test_unrelated_real_photos_do_not_look_alike() -> None:
    paths = sorted((SHARED_DATA / "photos" / "sharp").glob("*"))[::2]
    hashes = _hashes(paths)

    closest = min(capture.difference(a, b) for a, b in itertools.combinations(hashes, 2))

    assert closest > LIMIT


def test_drift_and_shake_keep_a_frame_alike() -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (1000, 1500), dtype=np.uint8), (0, 0), 12)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    moved = np.roll(base, (5, -7), axis=(0, 1))
    shaken = cv2.blur(moved, (25, 1))

    original = capture.likeness(base)
    assert capture.difference(original, capture.likeness(moved)) <= LIMIT
    assert capture.difference(original, capture.likeness(shaken)) <= LIMIT
    assert capture.difference(original, capture.likeness(np.ascontiguousarray(base[::-1]))) > LIMIT


def test_the_clock_of_a_photo_is_read_without_decoding_it(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    when = shoots.START + timedelta(seconds=1.25)
    with_exif = shoots.write_frame(tmp_path / "a.jpg", image, when)
    without = shoots.write_frame(tmp_path / "b.jpg", image, when, camera=None)

    camera, clock, taken = capture.clock_of(with_exif)
    assert (camera, clock) == ("Canon Canon EOS R6 #012345678901", "exif")
    assert taken == capture.capture(decoding.decode(with_exif, DecodeConfig()).exif, 0, GRAY).taken
    assert capture.clock_of(without) == ("", "mtime", pytest.approx(when.timestamp()))
    assert capture.clock_of(tmp_path / "gone.jpg")[1] == "mtime"
