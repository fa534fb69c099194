"""Decoding: a photo file in, the grayscale image scoring needs out.

Scoring looks at a display-referred grayscale picture at a working size (2000 px long
side by default), so decoding aims for that straight away: JPEGs are decoded to gray by
libjpeg with DCT-domain downscaling, RAW files give their embedded JPEG preview when it is
big enough (what the camera showed) and are demosaiced at half size otherwise. HEIC/HEIF
(phones, recent cameras) is decoded by libheif through pillow-heif, AVIF by Pillow's own
libavif; from an embedded thumbnail when one is big enough (HEVC and AV1 have no reduced
decoding), and turned upright by the format's own rotation and mirroring.

Nothing is ever opened for writing. An image file is read once, into memory; a RAW is
read by LibRaw itself, which fetches only what it needs. Whatever goes wrong with one
file (unreadable, truncated, a metadata-only stub, a decode that yields junk) is a
:class:`blurwatch.errors.DecodeError` with a one-line cause; the run goes on.

People look at photos in colour: :func:`decode_colour` takes the same routes (reduced
JPEG decoding, a RAW's embedded preview, one rule for turning pictures upright) to give
the report its thumbnails.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pillow_heif
import rawpy
from PIL import Image

from blurwatch import xmp
from blurwatch.config import DecodeConfig
from blurwatch.errors import DecodeError, shown
from blurwatch.xmp import Exif

log = logging.getLogger(__name__)

# Lower-case extensions, with the dot: the camera RAW formats LibRaw reads
# (LibRaw's supported-cameras list; nksc is Nikon's XML sidecar, not a RAW).
RAW_EXTENSIONS: frozenset[str] = frozenset({
    ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng", ".drf",
    ".eip", ".erf", ".fff", ".gpr", ".iiq", ".k25", ".kc2", ".kdc", ".mdc", ".mef", ".mfw", ".mos",
    ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".ptx", ".pxn", ".qtk", ".raf", ".raw", ".rw2",
    ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".sti", ".x3f",
})
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
# HEIF containers: HEVC-coded (.heic, .heif, and .hif from Canon and Fujifilm cameras) and AV1-coded (.avif).
HEIF_EXTENSIONS: frozenset[str] = frozenset({".heic", ".heif", ".hif", ".avif"})

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_BMP_MAGIC = b"BM"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EOI = b"\xff\xd9"
_XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"  # what an APP1 segment holding XMP starts with
_GOOGLE_BURST_ID = "Xmp.GCamera.BurstID"
_SNIFF_BYTES = 16
_HEAD_BYTES = 256 * 1024  # what a JPEG's header (EXIF, XMP, ICC profile, thumbnails) fits in, nearly always
# EXIF tags a photo's neighbours in time are found by: Pillow's tag numbers, exiv2's keys.
_EXIF_IFD = 0x8769
_CAPTURE_TAGS = {0x010F: "Exif.Image.Make", 0x0110: "Exif.Image.Model"}
_CAPTURE_PHOTO_TAGS = {0x9003: "Exif.Photo.DateTimeOriginal", 0x9291: "Exif.Photo.SubSecTimeOriginal",
                       0xA431: "Exif.Photo.BodySerialNumber"}
# An ISO-BMFF file starts with its ftyp box: size, "ftyp", the major brand. These brands
# are HEIF images (a Canon CR3 is ISO-BMFF too, with the brand "crx ").
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
                          b"avif", b"avis"})
_PILLOW_FORMATS = ("HEIF", "AVIF")  # pillow-heif's plugin, Pillow's own AVIF plugin

# Depth maps and other auxiliary images of a phone photo are never looked at: not decoded.
pillow_heif.register_heif_opener(depth_images=False, aux_images=False)

# libjpeg scales by 1/2, 1/4, 1/8 inside the IDCT: far cheaper than decoding it all.
_JPEG_GRAY = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
_JPEG_COLOUR = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}

# LibRaw's ``sizes.flip`` as the EXIF Orientation value it stands for (dcraw's table).
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

# A RAW's image data needs several bits per pixel even when compressed (lossy formats
# keep 2-8); a file with far less holds metadata only, whatever LibRaw makes of it.
_MIN_RAW_BITS_PER_PIXEL = 0.25

# LibRaw's reasons, most precise class first.
_LIBRAW_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (rawpy.LibRawFileUnsupportedError, "not a RAW file LibRaw can read (unsupported format or damaged header)"),
    (rawpy.LibRawIOError, "truncated or damaged RAW file, or no RAW file at all (LibRaw read past its end)"),
    (rawpy.LibRawDataError, "RAW image data are corrupt"),
    (rawpy.LibRawTooBigError, "RAW header gives an impossible image size (damaged file)"),
    (rawpy.LibRawUnsufficientMemoryError, "not enough memory to decode this RAW file"),
)


@dataclass(frozen=True)
class DecodedPhoto:
    path: Path
    gray: np.ndarray  # 2-D uint8, display-referred (sRGB gamma), EXIF orientation applied,
    #                   long side <= DecodeConfig.working_long_side (never upscaled)
    decoded_from: str  # "jpeg" | "image" | "heif" | "avif" | "heif-thumbnail" | "raw-preview" | "raw-demosaic"
    full_size: tuple[int, int]  # (width, height) of the full image, orientation applied
    exif: Exif = field(default_factory=dict)  # the photo's EXIF as read for orientation (bursts need it)


class _Content(NamedTuple):
    kind: str  # "jpeg" | "image" | "heif" | "raw"
    data: bytes  # the whole file for "jpeg", "image" and "heif"; empty for "raw"
    size: int  # bytes


class _JpegHeader(NamedTuple):
    width: int
    height: int
    scan_start: int  # offset of the first SOS marker: everything before it is header
    xmp: tuple[tuple[int, int], ...] = ()  # (start, end) of each XMP segment (APP1) in the header


def is_photo(path: Path) -> bool:
    """True when the extension (any case) is one blurwatch decodes."""
    suffix = path.suffix.lower()
    return suffix in IMAGE_EXTENSIONS or suffix in RAW_EXTENSIONS or suffix in HEIF_EXTENSIONS


def decode(path: Path, config: DecodeConfig) -> DecodedPhoto:
    """Decode ``path``; raise :class:`blurwatch.errors.DecodeError` naming the cause."""
    path = Path(path)
    content = _read(path)
    if content.kind == "jpeg":
        return _decode_jpeg(path, content.data, config)
    if content.kind == "image":
        return _decode_image(path, content.data, config)
    if content.kind == "heif":
        return _decode_heif(path, content.data, config)
    return _decode_raw(path, content.size, config)


def decode_colour(path: Path, long_side: int, min_preview_long_side: int, max_megapixels: float) -> np.ndarray | None:
    """A colour picture of ``path`` for people to look at: BGR, upright, at most ``long_side`` px.

    The routes of :func:`decode`: a JPEG reduced as it is decoded, a RAW's or HEIF's
    embedded preview (at least ``min_preview_long_side`` long). None for a RAW whose
    preview is missing or shorter (:func:`decode` then demosaics it, in gray). Raises
    :class:`blurwatch.errors.DecodeError` like :func:`decode`, also for a picture over
    ``max_megapixels``.
    """
    path = Path(path)
    content = _read(path)
    if content.kind == "raw":
        with _opened_raw(path) as raw:
            image = _raw_preview(path, raw, min_preview_long_side, long_side, max_megapixels, colour=True)
    elif content.kind == "jpeg":
        header = _jpeg_header(path, content.data)
        image = orient(_jpeg_pixels(path, content.data, header, long_side, max_megapixels, colour=True),
                       _jpeg_orientation(path, content.data, header))
    elif content.kind == "heif":
        image = _heif_pixels(path, content.data, min_preview_long_side, max_megapixels, colour=True).image
    else:
        exif = xmp.read_exif(path, content.data)
        _check_budget(path, _image_size(content.data, exif), 1, max_megapixels)
        image = _imdecode(path, content.data, cv2.IMREAD_COLOR, "PNG, TIFF or BMP")
        image = orient(image, _orientation(exif) or 1)
    return None if image is None else fit(image, long_side)


def _read(path: Path) -> _Content:
    """Sniff what the file is and read what its decoder needs, never opening it for writing.

    An image is read whole, once. A RAW is left to LibRaw, which reads only the parts
    it needs (an embedded preview is a small fraction of the file). Every way of failing
    becomes a one-line reason.
    """
    try:
        with path.open("rb") as file:
            head = file.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
            kind = _kind(path, head)
            data = file.read() if kind != "raw" else b""
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError as exc:
        raise DecodeError(path, "file not found (moved or deleted before it could be read)") from exc
    except IsADirectoryError as exc:
        raise DecodeError(path, "is a directory, not a photo") from exc
    except PermissionError as exc:
        raise DecodeError(path, "cannot read it: permission denied") from exc
    except OSError as exc:
        raise DecodeError(path, f"cannot read it: {exc.strerror or exc}") from exc
    return _Content(kind, data, size)


def _kind(path: Path, head: bytes) -> str:
    """"jpeg", "image" or "raw", from the content first and the name second.

    A JPEG, PNG or BMP is decoded as such whatever its extension (cameras and tools do
    write JPEGs named ``.nef``); TIFF-structured data goes to LibRaw when the extension
    is a RAW one, since most RAW formats are TIFFs.
    """
    if not head:
        raise DecodeError(path, "empty file (0 bytes)")
    is_raw_name = path.suffix.lower() in RAW_EXTENSIONS
    if head.startswith(_JPEG_MAGIC):
        if is_raw_name:
            log.warning("%s: is a JPEG despite its RAW extension; decoding it as the JPEG it is", shown(path))
        return "jpeg"
    if head.startswith((_PNG_MAGIC, _BMP_MAGIC)) or (head.startswith(_TIFF_MAGICS) and not is_raw_name):
        return "image"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heif"
    if is_raw_name:
        return "raw"
    raise DecodeError(path, f"not a JPEG, PNG, TIFF, BMP, HEIF or RAW file (starts with {head[:8]!r})")


# --- JPEG, PNG, TIFF -------------------------------------------------------------------


def _decode_jpeg(path: Path, data: bytes, config: DecodeConfig) -> DecodedPhoto:
    header = _jpeg_header(path, data)
    exif = _jpeg_exif(path, data, header)
    orientation = _orientation(exif) or 1
    gray = orient(_jpeg_pixels(path, data, header, config.working_long_side, config.max_megapixels, colour=False),
                  orientation)
    full_size = _oriented_size((header.width, header.height), orientation)
    return _finish(path, gray, "jpeg", full_size, config, exif)


def _decode_image(path: Path, data: bytes, config: DecodeConfig) -> DecodedPhoto:
    """PNG, TIFF or BMP: decoded whole (no reduced decoding exists for them), then downscaled."""
    exif = xmp.read_exif(path, data)
    _check_budget(path, _image_size(data, exif), 1, config.max_megapixels)
    gray = _imdecode(path, data, cv2.IMREAD_GRAYSCALE, "PNG, TIFF or BMP")
    gray = orient(gray, _orientation(exif) or 1)
    full_size = (gray.shape[1], gray.shape[0])
    return _finish(path, gray, "image", full_size, config, exif)


def capture_tags(path: Path) -> Exif:
    """A photo's make, model, serial number and capture time, without decoding it.

    For finding the frames taken around a photo before any is judged. A JPEG's come from
    its first bytes through Pillow, which leaves the maker notes alone (0.4 ms for a
    camera JPEG, against 0.9 ms for exiv2, which decodes them); other files' from exiv2.
    Keyed like exiv2's; empty when there are none or the file cannot be read.
    """
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError:
        return {}
    if not head.startswith(_JPEG_MAGIC):
        return xmp.read_exif(path)
    try:
        with Image.open(io.BytesIO(head), formats=["JPEG"]) as image:
            tags = image.getexif()
            photo_tags = tags.get_ifd(_EXIF_IFD)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        log.debug("%s: EXIF unreadable (%s)", shown(path), _one_line(str(exc)))
        return {}
    found = {key: tags.get(tag) for tag, key in _CAPTURE_TAGS.items()}
    found.update({key: photo_tags.get(tag) for tag, key in _CAPTURE_PHOTO_TAGS.items()})
    return {key: str(value) for key, value in found.items() if value is not None}


def _jpeg_orientation(path: Path, data: bytes, header: _JpegHeader) -> int:
    """The JPEG's EXIF Orientation, 1 when it states none; from its header alone."""
    return _orientation(_jpeg_exif(path, data, header)) or 1


def _jpeg_exif(path: Path, data: bytes, header: _JpegHeader) -> Exif:
    """The JPEG's EXIF from its header alone, and a phone's burst id (``Xmp.GCamera.BurstID``).

    The XMP segments are kept away from exiv2's EXIF read: a packet exiv2 finds broken
    (cameras and editors write duplicate properties) would cost the whole EXIF. The
    packet is then read on its own, for the burst id only.
    """
    kept, start = [], 0
    for begin, end in header.xmp:
        kept.append(data[start:begin])
        start = end
    kept.append(data[start : header.scan_start])
    exif = xmp.read_exif(path, b"".join(kept) + _EOI)
    for begin, end in header.xmp:
        burst_id = xmp.read_packet(path, data[begin + 4 + len(_XMP_SIGNATURE) : end]).get(_GOOGLE_BURST_ID)
        if isinstance(burst_id, str):
            exif[_GOOGLE_BURST_ID] = burst_id
    return exif


def _jpeg_header(path: Path, data: bytes) -> _JpegHeader:
    """Pixel size and scan offset from the frame header, walking the marker segments.

    Microseconds, against milliseconds for asking exiv2 to parse the whole file.
    """
    pos = 2
    size: tuple[int, int] | None = None
    xmp_segments: list[tuple[int, int]] = []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise DecodeError(path, f"corrupt JPEG header (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: the header is over
            if size is None:
                break
            return _JpegHeader(size[0], size[1], pos, tuple(xmp_segments))
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(data):
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            size = (width, height)
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and data.startswith(_XMP_SIGNATURE, pos + 4):
            xmp_segments.append((pos, min(end, len(data))))
        pos = end
    if size is None:
        raise DecodeError(path, "corrupt or truncated JPEG (no frame header before the image data)")
    raise DecodeError(path, "truncated JPEG (the file ends inside its header)")


def _jpeg_pixels(path: Path, data: bytes, header: _JpegHeader, long_side: int, max_megapixels: float,
                 colour: bool) -> np.ndarray:
    """Decode to gray or BGR, reduced by the largest power of two that stays >= ``long_side``.

    Truncation is checked first: entropy-coded data cannot contain an EOI marker, so a
    complete JPEG has one after its first scan (anything appended after it, such as a
    motion-photo video, does not matter).
    """
    if data.rfind(_EOI, header.scan_start) < 0:
        raise DecodeError(path, "truncated JPEG (no end-of-image marker after the image data)")
    if header.width == 0 or header.height == 0:
        raise DecodeError(path, f"corrupt JPEG header (image size {header.width}x{header.height})")
    scale = 1
    while scale < 8 and max(header.width, header.height) >= 2 * scale * long_side:
        scale *= 2
    _check_budget(path, (header.width, header.height), scale, max_megapixels)
    return _imdecode(path, data, (_JPEG_COLOUR if colour else _JPEG_GRAY)[scale], "JPEG")


def _image_size(data: bytes, exif: Exif) -> tuple[int, int] | None:
    """A PNG's, BMP's or TIFF's width and height from its header, before any pixel is decoded."""
    if data.startswith(_PNG_MAGIC) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(_BMP_MAGIC) and len(data) >= 26:
        if int.from_bytes(data[14:18], "little") == 12:  # the old OS/2 header: 16-bit sizes
            return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
            int.from_bytes(data[22:26], "little", signed=True))
    width, height = _exif_number(exif, "Exif.Image.ImageWidth"), _exif_number(exif, "Exif.Image.ImageLength")
    return (int(width), int(height)) if width and height else None


def _check_budget(path: Path, size: tuple[int, int] | None, scale: int, max_megapixels: float) -> None:
    """Refuse to decode a picture of ``size`` reduced by ``scale`` when it is over ``max_megapixels``.

    A size the header does not tell (None) is left to the decoder (OpenCV's own limit is
    about 1,000 MP).
    """
    if size is None:
        return
    width, height = (-(-side // scale) for side in size)
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        shown_mp = f"{megapixels:,.0f}" if megapixels >= 10 else f"{megapixels:.1f}"
        raise DecodeError(path, f"would decode to {width}x{height} pixels ({shown_mp} MP), over the "
                                f"{max_megapixels:g} MP budget (decode.max_megapixels); not decoded")


def _imdecode(path: Path, data: bytes, flags: int, kind: str) -> np.ndarray:
    """OpenCV decode to 8-bit gray or BGR; orientation is ours to apply (one rule for every source)."""
    try:
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise DecodeError(path, f"corrupt {kind} ({_one_line(str(exc))})") from exc
    if gray is None or gray.size == 0:
        raise DecodeError(path, f"corrupt, truncated or unsupported {kind} (OpenCV cannot decode it)")
    return gray


# --- HEIC, HEIF, AVIF --------------------------------------------------------------------


class _HeifPixels(NamedTuple):
    image: np.ndarray  # gray or BGR, upright
    full_size: tuple[int, int]  # (width, height) of the full image, upright
    source: str  # "heif", "avif", or "heif-thumbnail"


def _decode_heif(path: Path, data: bytes, config: DecodeConfig) -> DecodedPhoto:
    pixels = _heif_pixels(path, data, config.working_long_side, config.max_megapixels, colour=False)
    return _finish(path, pixels.image, pixels.source, pixels.full_size, config, xmp.read_exif(path, data))


def _heif_pixels(path: Path, data: bytes, long_side: int, max_megapixels: float, colour: bool) -> _HeifPixels:
    """Decode a HEIF or AVIF image, from an embedded thumbnail when one is at least ``long_side`` long.

    libheif applies the container's rotation and mirroring as it decodes and resets the
    EXIF Orientation to 1 (applying that too would turn the photo twice); Pillow's AVIF
    plugin hands the rotation over as the EXIF Orientation, which is applied here.
    """
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as image:
            orientation = _orientation_of(image)
            full_size = _oriented_size(image.size, orientation)
            source = str(image.format).lower()
            if image.draft(None, _size_with_long_side(image.size, long_side)) is not None:
                source += "-thumbnail"
            _check_budget(path, image.size, 1, max_megapixels)
            pixels = np.asarray(image.convert("RGB" if colour else "L"))
    except (OSError, ValueError, RuntimeError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DecodeError(path, f"corrupt, truncated or unsupported HEIF/AVIF ({_one_line(str(exc))})") from exc
    if colour:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    return _HeifPixels(orient(pixels, orientation), full_size, source)


def _orientation_of(image: Image.Image) -> int:
    value = image.getexif().get(0x0112)  # EXIF Orientation
    return value if isinstance(value, int) and value in range(1, 9) else 1


def _size_with_long_side(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``size`` scaled so its long side is ``long_side`` (what a thumbnail must at least measure)."""
    scale = min(1.0, long_side / max(size))
    return math.ceil(size[0] * scale), math.ceil(size[1] * scale)


# --- RAW -------------------------------------------------------------------------------


def _decode_raw(path: Path, file_size: int, config: DecodeConfig) -> DecodedPhoto:
    """LibRaw reads the file itself: a preview needs only a small part of it."""
    with _opened_raw(path) as raw:
        orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
        full_size = _oriented_size((raw.sizes.width, raw.sizes.height), orientation)
        gray = _raw_preview(path, raw, config.raw_preview_min_long_side, config.working_long_side,
                            config.max_megapixels, colour=False)
        decoded_from = "raw-preview"
        if gray is None:
            gray = _raw_demosaic(path, raw, file_size, config)
            decoded_from = "raw-demosaic"
    return _finish(path, gray, decoded_from, full_size, config, xmp.read_exif(path))


@contextlib.contextmanager
def _opened_raw(path: Path) -> Iterator[rawpy.RawPy]:
    """The RAW opened by LibRaw; whatever LibRaw refuses, then or while decoding, is a DecodeError."""
    with _libraw_name(path) as name:
        try:
            with rawpy.imread(name) as raw:
                yield raw
        except rawpy.LibRawError as exc:
            raise DecodeError(path, _libraw_reason(exc)) from exc


@contextlib.contextmanager
def _libraw_name(path: Path) -> Iterator[str]:
    """A name LibRaw can open the file by: its path, or for a name that is not UTF-8 (LibRaw takes
    UTF-8 names; old cards and Samba shares have others) the file opened here, under ``/proc/self/fd``.
    """
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield name
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise DecodeError(path, f"cannot read it: {exc.strerror}") from exc
    try:
        if not os.path.exists(f"/proc/self/fd/{fd}"):
            raise DecodeError(path, "file name is not valid UTF-8, so LibRaw cannot open it here; rename the file")
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _raw_preview(path: Path, raw: rawpy.RawPy, min_long_side: int, long_side: int, max_megapixels: float,
                 colour: bool) -> np.ndarray | None:
    """The embedded preview in gray or BGR, upright, when it is at least ``min_long_side``; else None."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError as exc:  # no preview, or one LibRaw cannot give: demosaic instead
        log.debug("%s: no usable embedded preview (%s)", shown(path), _libraw_message(exc))
        return None
    data = thumb.data
    if isinstance(data, np.ndarray):  # a bitmap: an RGB array, from old cameras and scanners
        if max(data.shape[:2]) < min_long_side:
            return None
        image = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if colour else cv2.COLOR_RGB2GRAY)
        own_orientation = None
    else:  # a JPEG
        try:
            header = _jpeg_header(path, data)
            if max(header.width, header.height) < min_long_side:
                return None
            image = _jpeg_pixels(path, data, header, long_side, max_megapixels, colour)
        except DecodeError as exc:
            log.info("%s: embedded preview is unusable (%s); demosaicing instead", shown(path), exc.reason)
            return None
        own_orientation = _orientation(xmp.read_exif(path, data[: header.scan_start] + _EOI))
    sensor = (raw.sizes.width, raw.sizes.height)
    raw_orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
    return orient(image, _preview_orientation(own_orientation, raw_orientation, image.shape, sensor))


def _preview_orientation(own: int | None, raw_orientation: int, shape: tuple[int, ...], sensor: tuple[int, int]) -> int:
    """How to turn a preview upright.

    The preview's own EXIF Orientation comes first: cameras that embed a full JPEG
    (Fujifilm) tag it, and LibRaw stamps the RAW's orientation into previews that carry
    no EXIF. A missing tag or 1 tells nothing, so the RAW's orientation applies. Either
    way, a preview whose aspect already matches the upright image (portrait where the
    sensor is landscape) was turned by the camera and is left as it is.
    """
    orientation = own if own not in (None, 1) else raw_orientation
    if orientation in _SWAPS_AXES:
        preview_portrait = shape[0] > shape[1]
        sensor_portrait = sensor[1] > sensor[0]
        if preview_portrait != sensor_portrait:
            return 1
    return orientation


def _raw_demosaic(path: Path, raw: rawpy.RawPy, file_bytes: int, config: DecodeConfig) -> np.ndarray:
    """Demosaic to gray: camera white balance, sRGB gamma, no auto-brightening.

    Auto-brightening would hide underexposure, which the exposure check must see. Half
    size (each 2x2 Bayer cell one pixel) is fast and exact when it still reaches the
    working size. When LibRaw's white level sits far below the data (Nikon COOLSCAN
    NEFs claim 255 for 16-bit data), the data's own peak is the saturation point.
    """
    sizes = raw.sizes
    _check_budget(path, (sizes.raw_width, sizes.raw_height), 1, config.max_megapixels)
    bits_per_pixel = file_bytes * 8 / max(1, sizes.raw_width * sizes.raw_height)
    if bits_per_pixel < _MIN_RAW_BITS_PER_PIXEL:
        raise DecodeError(
            path,
            f"RAW image data missing ({file_bytes} bytes for {sizes.raw_width}x{sizes.raw_height} pixels:"
            " a metadata-only or stripped file)",
        )
    peak = int(raw.raw_image_visible.max())
    saturation = peak if peak > 2 * raw.white_level else None
    if saturation is not None:
        log.info("%s: LibRaw's white level %d is far below the data (peak %d); scaling by the peak",
                 shown(path), raw.white_level, peak)
    rgb = raw.postprocess(
        half_size=max(sizes.width, sizes.height) // 2 >= config.working_long_side,
        use_camera_wb=True,
        output_bps=8,
        gamma=(2.4, 12.92),
        no_auto_bright=True,
        user_sat=saturation,
    )
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _libraw_reason(exc: rawpy.LibRawError) -> str:
    for cls, reason in _LIBRAW_REASONS:
        if isinstance(exc, cls):
            return reason
    return f"LibRaw cannot decode it ({type(exc).__name__}: {_libraw_message(exc)})"


def _libraw_message(exc: rawpy.LibRawError) -> str:
    """LibRaw's own text, which rawpy hands over as a bytes repr."""
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


# --- Metadata --------------------------------------------------------------------------


def _orientation(exif: Exif) -> int | None:
    """EXIF Orientation 1-8, or None when the file states none (or nonsense)."""
    value = _exif_number(exif, "Exif.Image.Orientation")
    return int(value) if value is not None and value in range(1, 9) else None


def _exif_number(exif: Exif, *keys: str) -> float | None:
    """The first positive number among ``keys`` ("1/250", "200", "200 200"); else None."""
    for key in keys:
        value = exif.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if not value or not value.split():
            continue
        number = parse_number(value.split()[0])
        if number is not None and number > 0:
            return number
    return None


def parse_number(text: str) -> float | None:
    """An EXIF number as exiv2 prints it ("1/250", "-2/3", "5.6"); None when it is none."""
    numerator, _, denominator = text.partition("/")
    try:
        value = float(numerator) / float(denominator) if denominator else float(numerator)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


# --- Common finish ---------------------------------------------------------------------


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image (gray or colour) upright per its EXIF Orientation (1-8)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in _SWAPS_AXES else size


def _finish(path: Path, gray: np.ndarray, decoded_from: str, full_size: tuple[int, int],
            config: DecodeConfig, exif: Exif) -> DecodedPhoto:
    gray = fit(gray, config.working_long_side)
    problem = _garbage(gray)
    if problem:
        raise DecodeError(path, f"decodes to garbage ({problem})")
    log.debug("%s: decoded from %s, %dx%d at %dx%d", shown(path), decoded_from, *full_size, gray.shape[1],
              gray.shape[0])
    return DecodedPhoto(path=path, gray=gray, decoded_from=decoded_from, full_size=full_size, exif=exif)


def fit(image: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale (area averaging, no aliasing) so the long side is ``long_side``; never upscale."""
    height, width = image.shape[:2]
    if max(height, width) <= long_side:
        return image
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _garbage(gray: np.ndarray) -> str | None:
    """Why a decoded image is not a photo, or None.

    Stubs and damaged files can decode "successfully" into one flat level, or into
    stripes: rows (or columns) that are each flat while they differ from each other.
    Judged on every n-th pixel (about 256 per side, a fraction of a millisecond); real
    photos, even very dark or blown-out ones, keep noise and texture.
    """
    step = max(1, max(gray.shape) // 256)
    sample = gray[::step, ::step]
    cumulative = np.cumsum(np.bincount(sample.ravel(), minlength=256))
    low, median, high = np.searchsorted(cumulative, np.array([0.01, 0.5, 0.99]) * cumulative[-1])
    if high - low < 3:
        return f"a flat image, every pixel near level {median}"
    values = sample.astype(np.float32)
    flat_rows = float(values.std(axis=1).mean())
    flat_columns = float(values.std(axis=0).mean())
    if min(flat_rows, flat_columns) < 0.05 * float(values.std()):
        return "stripes: each row or column is one flat level"
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
