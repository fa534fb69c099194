"""Decoding: real files in (the team's RAW and photo sets, generated JPEGs and DNGs), gray out."""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyexiv2
import pytest
import rawpy
from PIL import Image

from blurwatch import decoding
from blurwatch.config import DecodeConfig
from blurwatch.decoding import DecodedPhoto, decode, is_photo
from blurwatch.errors import DecodeError
from conftest import SHARED_DATA, requires_program, requires_shared
from helpers.dng import write_dng

CONFIG = DecodeConfig()

# How to turn an image stored with EXIF Orientation n upright, written independently of
# the code under test (numpy instead of cv2).
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, 1),
}


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB picture: smooth shading, texture and hard edges, nothing symmetric."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 8, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * 160 + 40
    image += cv2.GaussianBlur(rng.normal(0, 25, (height, width, 3)).astype(np.float32), (0, 0), 1.5)
    image[height // 8 : height // 3, width // 10 : width // 3] = (240, 220, 60)  # a bright block, top left
    cv2.circle(image, (width * 3 // 4, height * 2 // 3), min(height, width) // 8, (20, 30, 90), -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 92, exif: dict[str, str] | None = None) -> Path:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())
    if exif:
        with pyexiv2.Image(str(path)) as image:
            image.modify_exif(exif)
    return path


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def assert_sane(photo: DecodedPhoto) -> None:
    assert photo.gray.ndim == 2 and photo.gray.dtype == np.uint8
    assert max(photo.gray.shape) <= CONFIG.working_long_side
    assert min(photo.gray.shape) >= 16
    assert photo.gray.std() > 5, "decoded to a near-flat image"
    assert (photo.gray.shape[1] >= photo.gray.shape[0]) == (photo.full_size[0] >= photo.full_size[1])


def assert_names_file(error: pytest.ExceptionInfo[DecodeError], path: Path) -> None:
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert error.value.path == path


# --- file types and names --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a.jpg", "a.JPEG", "a.png", "a.tif", "a.TIFF", "a.bmp", "a.NEF", "a.cr3", "a.Dng", "a.rw2", "a.KDC",
             "a.HEIC", "a.heif", "a.HIF", "a.avif"]
)
def test_is_photo_accepts_images_and_raws_in_any_case(name: str) -> None:
    assert is_photo(Path(name))


@pytest.mark.parametrize("name", ["a.xmp", "a.NEF.xmp", "a.txt", "a.nksc", "a", "a.mov", ".jpg"])
def test_is_photo_refuses_everything_else(name: str) -> None:
    assert not is_photo(Path(name))


def test_raw_extensions_are_lower_case_with_the_dot() -> None:
    for ext in decoding.RAW_EXTENSIONS | decoding.IMAGE_EXTENSIONS:
        assert ext.startswith(".") and ext == ext.lower()


# --- JPEG --------------------------------------------------------------------------------


def test_jpeg_decodes_to_gray(tmp_path: Path) -> None:
    rgb = scene(600, 900)
    path = write_jpeg(tmp_path / "shot.jpg", rgb, exif={"Exif.Photo.ExposureTime": "1/250"})
    photo = decode(path, CONFIG)
    assert photo.decoded_from == "jpeg" and photo.path == path
    assert photo.full_size == (900, 600) and photo.gray.shape == (600, 900)
    assert np.abs(photo.gray.astype(int) - to_gray(rgb)).mean() < 3  # libjpeg's gray is the usual luma


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("working", [1024, 256], ids=["direct", "reduced"])
def test_every_exif_orientation_is_applied(tmp_path: Path, orientation: int, working: int) -> None:
    """Same pixels, only the tag differs: the result is exactly the stored image turned upright."""
    config = DecodeConfig(working_long_side=working)  # 1024x768: direct; reduced by 4 to 256x192
    rgb = scene(768, 1024)
    stored = decode(write_jpeg(tmp_path / "stored.jpg", rgb), config).gray
    path = write_jpeg(tmp_path / f"o{orientation}.jpg", rgb, exif={"Exif.Image.Orientation": str(orientation)})
    photo = decode(path, config)
    np.testing.assert_array_equal(photo.gray, UPRIGHT[orientation](stored))
    assert photo.full_size == ((768, 1024) if orientation >= 5 else (1024, 768))
    # OpenCV's own EXIF handling agrees
    flags = cv2.IMREAD_GRAYSCALE if working == 1024 else cv2.IMREAD_REDUCED_GRAYSCALE_4
    np.testing.assert_array_equal(photo.gray, cv2.imread(str(path), flags))


def test_downscale_never_upscales(tmp_path: Path) -> None:
    photo = decode(write_jpeg(tmp_path / "small.jpg", scene(200, 300)), CONFIG)
    assert photo.gray.shape == (200, 300) and photo.full_size == (300, 200)


@pytest.mark.parametrize(
    "size, working, reduction",
    [((1500, 2400), 1000, 2), ((1200, 2000), 1000, 2), ((900, 1600), 801, 1), ((2000, 3000), 700, 4),
     ((2400, 3300), 400, 8)],
)
def test_big_jpeg_is_reduced_to_the_working_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], working: int, reduction: int
) -> None:
    """libjpeg reduces by the largest power of two that stays at or above the working size,
    area scaling does the rest; the result looks like a full decode scaled down."""
    rgb = scene(*size)
    path = write_jpeg(tmp_path / "big.jpg", rgb)
    flags_used = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: flags_used.append(flags) or imdecode(buf, flags))
    photo = decode(path, DecodeConfig(working_long_side=working))
    expected_flag = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
                     4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[reduction]
    assert flags_used == [expected_flag | cv2.IMREAD_IGNORE_ORIENTATION]
    assert max(photo.gray.shape) == working
    assert photo.full_size == (size[1], size[0])
    reference = cv2.resize(to_gray(rgb), (photo.gray.shape[1], photo.gray.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(photo.gray.astype(int) - reference).mean() < 3


def test_jpeg_with_data_after_its_end_decodes(tmp_path: Path) -> None:
    """Motion photos append a video after the JPEG's end marker."""
    path = write_jpeg(tmp_path / "motion.jpg", scene(300, 400))
    path.write_bytes(path.read_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    assert decode(path, CONFIG).gray.shape == (300, 400)


def test_jpeg_named_as_raw_decodes_as_jpeg(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "DSC_0001.NEF", scene(300, 400))
    photo = decode(path, CONFIG)
    assert photo.decoded_from == "jpeg" and photo.gray.shape == (300, 400)


# --- PNG, TIFF, BMP ----------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_other_images_decode_and_shrink(tmp_path: Path, ext: str) -> None:
    rgb = scene(500, 700)
    path = tmp_path / f"image{ext}"
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    photo = decode(path, DecodeConfig(working_long_side=350))
    assert photo.decoded_from == "image" and photo.full_size == (700, 500) and photo.gray.shape == (250, 350)
    reference = cv2.resize(to_gray(rgb), (350, 250), interpolation=cv2.INTER_AREA)
    assert np.abs(photo.gray.astype(int) - reference).mean() < 2


def test_sixteen_bit_tiff_keeps_its_display_levels(tmp_path: Path) -> None:
    gray = to_gray(scene(300, 400)).astype(np.uint16) * 257
    path = tmp_path / "export.tif"
    assert cv2.imwrite(str(path), gray)
    np.testing.assert_allclose(decode(path, CONFIG).gray, gray // 257, atol=1)


def test_png_orientation_tag_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "turned.png"
    rgb = scene(300, 400)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    with pyexiv2.Image(str(path)) as image:
        image.modify_exif({"Exif.Image.Orientation": "6"})
    photo = decode(path, CONFIG)
    np.testing.assert_allclose(photo.gray, UPRIGHT[6](to_gray(rgb)), atol=1)  # libpng gray vs cvtColor rounding
    assert photo.full_size == (300, 400)


# --- HEIC, HEIF, AVIF ---------------------------------------------------------------------------


def heif_bytes(rgb: np.ndarray, kind: str = "HEIF", orientation: int = 1, thumbnail: int = 0) -> bytes:
    """``rgb`` encoded as a phone would (libheif's x265 for HEIF, Pillow's libavif for AVIF).

    ``orientation`` is written as an EXIF Orientation, which both encoders turn into the
    container's rotation and mirroring, as phones store it; ``thumbnail`` adds an embedded
    thumbnail of that long side.
    """
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    options = {"save_all": False, "thumbnails": [thumbnail]} if thumbnail else {}
    Image.fromarray(rgb).save(out, format=kind, quality=90, exif=exif.tobytes(), **options)
    return out.getvalue()


@pytest.mark.parametrize("kind, source", [("HEIF", "heif"), ("AVIF", "avif")])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_heif_and_avif_are_decoded_upright(tmp_path: Path, kind: str, source: str, orientation: int) -> None:
    rgb = scene(300, 400)
    stored = UPRIGHT[{6: 8, 8: 6}.get(orientation, orientation)](rgb)  # as a camera held that way stores it
    path = tmp_path / f"IMG_0001.{source}"
    path.write_bytes(heif_bytes(np.ascontiguousarray(stored), kind, orientation))
    photo = decode(path, CONFIG)
    assert photo.decoded_from == source and photo.full_size == (400, 300)
    assert correlation(to_gray(rgb), photo.gray) > 0.97  # turned upright once: not twice, not left lying
    assert_sane(photo)


def test_heif_is_decoded_from_its_thumbnail_only_when_that_is_big_enough(tmp_path: Path) -> None:
    rgb = scene(600, 800)
    path = tmp_path / "IMG_0001.heic"
    path.write_bytes(heif_bytes(rgb, thumbnail=320))
    full = decode(path, DecodeConfig(working_long_side=400))
    small = decode(path, DecodeConfig(working_long_side=300))
    assert (full.decoded_from, full.gray.shape, full.full_size) == ("heif", (300, 400), (800, 600))
    assert (small.decoded_from, small.gray.shape, small.full_size) == ("heif-thumbnail", (225, 300), (800, 600))
    colour = decoding.decode_colour(path, 360, 180, CONFIG.max_megapixels)  # the report's thumbnail
    assert colour is not None and colour.shape == (240, 320, 3)
    assert correlation(to_gray(rgb), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)) > 0.97


def test_a_cr3_is_still_a_raw_though_it_is_iso_bmff_too(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.CR3"
    path.write_bytes(b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom" + b"\x00" * 64)
    with pytest.raises(DecodeError, match="RAW") as error:
        decode(path, CONFIG)
    assert_names_file(error, path)


@pytest.mark.shared
@pytest.mark.parametrize("name, size, source", [("immich__IMG_2682.heic", (4032, 3024), "heif"),
                                               ("immich__8bit-sRGB.avif", (1617, 1080), "avif")])
def test_shared_phone_photos_decode(name: str, size: tuple[int, int], source: str) -> None:
    path = SHARED_DATA / "heic" / name
    if not path.is_file():
        pytest.skip(f"the team's HEIC/AVIF photos are not at {path.parent}")
    photo = decode(path, CONFIG)
    assert (photo.full_size, photo.decoded_from) == (size, source)
    assert_sane(photo)
    colour = decoding.decode_colour(path, 360, 180, CONFIG.max_megapixels)
    assert colour is not None and max(colour.shape[:2]) <= 360


# --- bad input ---------------------------------------------------------------------------


def bad_content(name: str, tmp_path: Path) -> bytes:
    """What the file called ``name`` holds in the bad-input test."""
    jpeg = write_jpeg(tmp_path / "source.jpg", scene(300, 400)).read_bytes()
    png = cv2.imencode(".png", scene(300, 400))[1].tobytes()
    stripes = np.repeat(scene(300, 1)[:, :, 0], 400, axis=1)
    return {
        "empty.jpg": b"",
        "cut.jpg": jpeg[: len(jpeg) * 2 // 3],
        "header-only.jpg": jpeg[:200],
        "cut.png": png[: len(png) // 2],
        "notes.jpg": b"shopping list: eggs, milk\n",
        "notes.nef": b"shopping list: eggs, milk\n",
        "flat.jpg": cv2.imencode(".jpg", np.full((300, 400), 77, np.uint8))[1].tobytes(),
        "stripes.png": cv2.imencode(".png", stripes)[1].tobytes(),
        "cut.heic": heif_bytes(scene(300, 400))[:900],
        "flat.heic": heif_bytes(np.full((300, 400, 3), 77, np.uint8)),
    }[name]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.jpg", "empty file"),
        ("cut.jpg", "truncated JPEG"),
        ("header-only.jpg", "JPEG"),
        ("cut.png", "truncated or unsupported PNG"),
        ("notes.jpg", "not a JPEG, PNG, TIFF, BMP, HEIF or RAW file"),
        ("cut.heic", "corrupt, truncated or unsupported HEIF/AVIF"),
        ("flat.heic", r"decodes to garbage \(a flat image"),
        ("notes.nef", "no RAW file at all"),
        ("flat.jpg", r"decodes to garbage \(a flat image"),
        ("stripes.png", r"decodes to garbage \(stripes"),
    ],
)
def test_bad_file_is_a_one_line_decode_error(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(bad_content(name, tmp_path))
    with pytest.raises(DecodeError, match=reason) as error:
        decode(path, CONFIG)
    assert_names_file(error, path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.jpg"
    with pytest.raises(DecodeError, match="file not found") as error:
        decode(path, CONFIG)
    assert_names_file(error, path)


def test_directory_named_like_a_photo(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.mkdir()
    with pytest.raises(DecodeError, match="is a directory") as error:
        decode(path, CONFIG)
    assert_names_file(error, path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, who reads a chmod 000 file anyway: the refusal is simulated."""
    path = write_jpeg(tmp_path / "locked.jpg", scene(100, 100))

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(DecodeError, match="permission denied") as error:
        decode(path, CONFIG)
    assert_names_file(error, path)


def test_chmod_000_file(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "locked.jpg", scene(100, 100))
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root: a chmod 000 file is still readable")
    with pytest.raises(DecodeError, match="permission denied"):
        decode(path, CONFIG)


@pytest.mark.parametrize("make", ["jpeg", "dng"])
def test_the_original_is_left_untouched(tmp_path: Path, make: str) -> None:
    if make == "jpeg":
        path = write_jpeg(tmp_path / "a.jpg", scene(300, 400), exif={"Exif.Image.Orientation": "6"})
    else:
        path = write_dng(tmp_path / "a.dng", scene(300, 400), preview_long_side=400, orientation=6)
    path.chmod(0o444)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    decode(path, DecodeConfig(working_long_side=256, raw_preview_min_long_side=0))
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.mark.integration
@requires_program("strace")
def test_no_library_opens_a_photo_for_writing(tmp_path: Path) -> None:
    """OpenCV, exiv2 and LibRaw open files in C: watch the system calls themselves."""
    photos = [
        write_jpeg(tmp_path / "a.jpg", scene(300, 400), exif={"Exif.Image.Orientation": "6"}),
        write_dng(tmp_path / "preview.dng", scene(300, 400), preview_long_side=400),
        write_dng(tmp_path / "mosaic.dng", scene(300, 400)),
    ]
    script = (
        "import sys\n"
        "from blurwatch.config import DecodeConfig\n"
        "from blurwatch.decoding import decode\n"
        "print(*(decode(p, DecodeConfig(raw_preview_min_long_side=300)).decoded_from for p in sys.argv[1:]))\n"
    )
    trace = tmp_path / "opens.txt"
    command = ["strace", "-f", "-e", "trace=open,openat,creat", "-o", str(trace), sys.executable, "-c", script]
    run = subprocess.run([*command, *map(str, photos)], capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and "ptrace" in run.stderr:
        pytest.skip(f"strace cannot trace here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["jpeg", "raw-preview", "raw-demosaic"]
    opens = [line for line in trace.read_text().splitlines() if any(f'"{p}"' in line for p in photos)]
    assert len(opens) >= len(photos)
    assert all("O_RDONLY" in line and "O_WRONLY" not in line and "O_RDWR" not in line for line in opens), opens


# --- RAW: generated DNGs -----------------------------------------------------------------


@pytest.mark.parametrize("min_long_side, expected", [(1000, "raw-preview"), (1025, "raw-demosaic"), (0, "raw-preview")])
def test_preview_or_demosaic_by_preview_size(tmp_path: Path, min_long_side: int, expected: str) -> None:
    rgb = scene(800, 1200)
    path = write_dng(tmp_path / "shot.dng", rgb, preview_long_side=1024)
    photo = decode(path, DecodeConfig(working_long_side=2000, raw_preview_min_long_side=min_long_side))
    assert photo.decoded_from == expected
    assert photo.gray.shape == ((683, 1024) if expected == "raw-preview" else (800, 1200))
    assert photo.full_size == (1200, 800)
    assert correlation(photo.gray, to_gray(rgb)) > 0.95


def test_dng_without_preview_is_demosaiced_faithfully(tmp_path: Path) -> None:
    """Camera white balance, sRGB gamma and no auto-brightening: the levels of the source.

    (Half-saturated colours: LibRaw's gamut handling shifts the luma of vivid ones; with
    auto-brightening this picture would come out about 18 levels brighter.)
    """
    vivid = scene(600, 800)
    rgb = ((vivid.astype(np.uint16) + to_gray(vivid)[:, :, None]) // 2).astype(np.uint8)
    photo = decode(write_dng(tmp_path / "shot.dng", rgb, exif=None), CONFIG)
    assert photo.decoded_from == "raw-demosaic"
    assert np.abs(photo.gray.astype(int) - to_gray(rgb)).mean() < 2
    assert correlation(photo.gray, to_gray(rgb)) > 0.97


def test_big_raw_is_demosaiced_at_half_size(tmp_path: Path) -> None:
    photo = decode(write_dng(tmp_path / "big.dng", scene(800, 1200)), DecodeConfig(working_long_side=500))
    assert photo.decoded_from == "raw-demosaic" and photo.gray.shape == (333, 500)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("source", ["preview", "upright-preview", "demosaic"])
def test_raw_orientation(tmp_path: Path, orientation: int, source: str) -> None:
    if source == "upright-preview" and orientation == 3:
        pytest.skip("a preview already turned by 180 degrees cannot be told from one that is not")
    rgb = scene(400, 600)
    preview = None if source == "demosaic" else 600
    path = write_dng(tmp_path / "turned.dng", rgb, orientation=orientation, preview_long_side=preview,
                     preview_upright=source == "upright-preview")
    photo = decode(path, DecodeConfig(working_long_side=2000, raw_preview_min_long_side=500))
    upright = UPRIGHT[orientation](to_gray(rgb))
    assert photo.gray.shape == upright.shape
    assert photo.full_size == (upright.shape[1], upright.shape[0])
    assert correlation(photo.gray, upright) > 0.95


@pytest.mark.parametrize(
    "own, raw, shape, expected",
    [
        (6, 6, (400, 600), 6),  # LibRaw stamped the RAW's orientation into a sensor-wise preview
        (6, 1, (400, 600), 6),  # the preview's own tag (Fujifilm) outranks a RAW without one
        (None, 8, (400, 600), 8),  # no tag: the RAW's orientation
        (1, 8, (400, 600), 8),  # a tag of 1 tells nothing
        (6, 6, (600, 400), 1),  # already portrait: the camera turned it
    ],
)
def test_preview_orientation_rule(own: int | None, raw: int, shape: tuple[int, int], expected: int) -> None:
    assert decoding._preview_orientation(own, raw, shape, (6000, 4000)) == expected


# --- RAW: the team's real files ----------------------------------------------------------


def raw_manifest() -> list[dict[str, str]]:
    manifest = SHARED_DATA / "raw" / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


GENUINE = {"genuine", "genuine-cropped", "genuine-scanner"}


@requires_shared
@pytest.mark.shared
@pytest.mark.parametrize("row", raw_manifest(), ids=lambda row: row["relpath"])
def test_shared_raw_file(row: dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    path = SHARED_DATA / "raw" / row["relpath"]
    kind = row["fixture_kind"]
    if kind in GENUINE:
        photo = decode(path, CONFIG)
        assert_sane(photo)
        assert photo.decoded_from == "raw-demosaic"  # none of them has a preview of 1600 px
        assert photo.full_size == (int(row["full_width"]), int(row["full_height"]))
    elif kind == "misnamed-jpeg":
        photo = decode(path, CONFIG)
        assert_sane(photo)
        assert photo.decoded_from == "jpeg"
    else:
        with pytest.raises(DecodeError) as error:
            decode(path, CONFIG)
        assert_names_file(error, path)
    assert capfd.readouterr().out == "", "exiv2 or LibRaw printed on stdout, where --json goes"


@requires_shared
@pytest.mark.shared
def test_coolscan_nef_is_a_real_photo_not_white() -> None:
    """LibRaw claims white level 255 for 16-bit scanner data; the peak must be used instead."""
    path = SHARED_DATA / "raw" / "NEF" / "imageio__Nikon_uncompressed.nef"
    photo = decode(path, CONFIG)
    assert (photo.gray >= 250).mean() < 0.05  # LibRaw's own rendering: 87% of pixels at 250 or more
    with rawpy.imread(str(path)) as raw:
        thumbnail = to_gray(raw.extract_thumb().data)  # the scanner's own 320 px rendering
    assert correlation(thumbnail, photo.gray) > 0.85


@requires_shared
@pytest.mark.shared
def test_raw_with_non_ascii_name(tmp_path: Path) -> None:
    path = tmp_path / "RAW_KODAK_DC50_é.KDC"
    shutil.copyfile(SHARED_DATA / "raw" / "KDC" / "rawpy__RAW_KODAK_DC50_e.KDC", path)
    photo = decode(path, CONFIG)
    assert_sane(photo)
    assert photo.full_size == (768, 512)


def test_raw_whose_name_is_not_utf8_decodes(tmp_path: Path) -> None:
    """LibRaw takes UTF-8 names; a Latin-1 byte (old cards, Samba shares) goes through /proc/self/fd."""
    path = write_dng(tmp_path / os.fsdecode(b"caf\xe9.dng"), scene(400, 600))
    photo = decode(path, CONFIG)
    assert_sane(photo)
    assert photo.decoded_from == "raw-demosaic" and photo.path == path


# --- the pixel budget: refused before decoding -----------------------------------------------


def with_declared_size(data: bytes, width: int, height: int, kind: str) -> bytes:
    """The same file with another size in its header: what a hostile or damaged file declares."""
    if kind == "png":
        return data[:16] + struct.pack(">II", width, height) + data[24:]
    if kind == "bmp":
        return data[:18] + struct.pack("<ii", width, height) + data[26:]
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


@pytest.mark.parametrize("kind", ["png", "bmp"])
def test_a_picture_declaring_a_huge_size_is_refused_before_decoding(tmp_path: Path, kind: str) -> None:
    """A 1 MB PNG declaring 32000x32000 pixels took 2.1 GB to decode."""
    data = cv2.imencode(f".{kind}", scene(40, 60))[1].tobytes()
    path = tmp_path / f"huge.{kind}"
    path.write_bytes(with_declared_size(data, 32000, 32000, kind))
    with pytest.raises(DecodeError) as raised:
        decode(path, CONFIG)
    assert str(raised.value) == (f"{path}: would decode to 32000x32000 pixels (1,024 MP), over the 200 MP budget "
                                 "(decode.max_megapixels); not decoded")
    with pytest.raises(DecodeError, match="over the 200 MP budget"):
        decoding.decode_colour(path, 400, 1600, CONFIG.max_megapixels)


def test_a_jpeg_counts_at_the_size_it_is_decoded_at(tmp_path: Path) -> None:
    """libjpeg decodes an 8000x6000 JPEG at 1/4 for the 2000 px working size: 3 MP, not 48."""
    path = tmp_path / "big.jpg"
    path.write_bytes(with_declared_size(cv2.imencode(".jpg", scene(600, 800))[1].tobytes(), 8000, 6000, "jpeg"))
    with pytest.raises(DecodeError, match=r"would decode to 2000x1500 pixels \(3.0 MP\), over the 2 MP budget"):
        decode(path, DecodeConfig(max_megapixels=2))


def test_a_tiff_and_a_raw_are_held_to_the_budget(tmp_path: Path) -> None:
    tiff = tmp_path / "scan.tif"
    cv2.imwrite(str(tiff), scene(1200, 1000))
    with pytest.raises(DecodeError, match=r"would decode to 1000x1200 pixels \(1.2 MP\), over the 1 MP budget"):
        decode(tiff, DecodeConfig(max_megapixels=1))
    raw = write_dng(tmp_path / "big.dng", scene(1200, 1000))
    with pytest.raises(DecodeError, match=r"would decode to 1000x1200 pixels \(1.2 MP\), over the 1 MP budget"):
        decode(raw, DecodeConfig(max_megapixels=1))
    assert decode(raw, DecodeConfig(max_megapixels=2)).decoded_from == "raw-demosaic"


def test_a_heif_is_held_to_the_budget_at_the_size_it_is_decoded_at(tmp_path: Path) -> None:
    """From its embedded thumbnail when that is big enough: 0.12 MP, not the full 0.48."""
    path = tmp_path / "IMG_0001.heic"
    path.write_bytes(heif_bytes(scene(600, 800), thumbnail=400))
    with pytest.raises(DecodeError, match=r"would decode to 800x600 pixels \(0.5 MP\), over the 0.2 MP budget"):
        decode(path, DecodeConfig(max_megapixels=0.2))
    assert decode(path, DecodeConfig(working_long_side=300, max_megapixels=0.2)).decoded_from == "heif-thumbnail"


# --- the team's photos -------------------------------------------------------------------

PHOTO_SAMPLE = [
    "sharp/mdeximg__Apple_iPhone_4S.jpg",  # EXIF Orientation 6
    "sharp/mdeximg__Canon_PowerShot_A85.jpg",  # EXIF Orientation 8 (stale)
    "sharp/mdeximg__Samsung_SM-N900A__Galaxy_Note_3_.jpg",  # 4128 px: reduced decoding
    "sharp/mdeximg__Canon_EOS_20D__1_.jpg",
    "blurry_natural/mdeximg__Sony_Ericsson_C905c.jpg",
    "blurry_lab/pmp__im05_ker04_blur.png",
    "bokeh_sharp/",
    "dark/zerodce-lime__1.bmp",
    "dark/",
    "overexposed/",
]


def photo_sample() -> list[tuple[str, int, int]]:
    """The named photos, a folder name taking its first photo; (relpath, width, height)."""
    manifest = SHARED_DATA / "photos" / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as file:
        rows = sorted(csv.DictReader(file), key=lambda r: r["relpath"])
    picked = [next(r for r in rows if r["relpath"].startswith(name)) for name in PHOTO_SAMPLE]
    return [(r["relpath"], int(r["width"]), int(r["height"])) for r in picked]


@requires_shared
@pytest.mark.shared
@pytest.mark.parametrize("relpath, width, height", photo_sample(), ids=lambda v: v if isinstance(v, str) else "")
def test_shared_photo_decodes(relpath: str, width: int, height: int) -> None:
    photo = decode(SHARED_DATA / "photos" / relpath, CONFIG)
    assert_sane(photo)
    assert sorted(photo.full_size) == sorted((width, height))
    expected_long = min(max(width, height), CONFIG.working_long_side)
    assert max(photo.gray.shape) == expected_long
    if "iPhone_4S" in relpath:  # stored landscape, Orientation 6: turned to portrait
        assert photo.gray.shape[0] > photo.gray.shape[1]
    if "A85" in relpath:  # stored upright by some editor that left Orientation 8: the tag wins, as in every viewer
        assert photo.gray.shape[0] < photo.gray.shape[1]
