"""Write real DNG files from ordinary pictures, for tests and benchmarks.

Full-size camera RAWs cannot be shipped with blurwatch, so tests build their own: an
RGGB Bayer mosaic (16-bit, black and white levels) in a SubIFD and, optionally, a JPEG
preview in IFD0 marked NewSubfileType=1 - the layout Adobe's converter writes. LibRaw
(rawpy) decodes these for real: ``extract_thumb()`` returns the preview, ``postprocess()``
demosaics the mosaic. The "camera" is linear sRGB (its colour matrix is sRGB's), so a
demosaiced result looks like the source picture. For camera-sized benchmark files the
mosaic can carry sensor noise and be stored lossless-JPEG compressed, as cameras store it.

A small TIFF writer is used instead of tifffile because tifffile will not store an
already-encoded JPEG strip without the imagecodecs package.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# TIFF field types: BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL.
BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_FORMATS = {BYTE: "B", SHORT: "H", LONG: "I", RATIONAL: "I", SRATIONAL: "i"}

# XYZ (D65) -> linear sRGB: DNG's ColorMatrix1 maps XYZ to camera space.
_XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)

Value = str | Sequence[int]
Entries = dict[int, tuple[int, Value]]


@dataclass(frozen=True)
class Exif:
    """Shooting facts written to the DNG's Exif IFD."""

    exposure_time: tuple[int, int] = (1, 250)  # seconds, as a fraction
    iso: int = 200
    focal_length_35mm: int = 50


def write_dng(
    path: Path,
    rgb: np.ndarray,
    *,
    preview_long_side: int | None = None,
    orientation: int = 1,
    preview_upright: bool = False,
    black_level: int = 256,
    white_level: int = 4095,
    exif: Exif | None = Exif(),
    noise: float = 0.0,
    seed: int = 0,
    compress: bool = False,
) -> Path:
    """Write ``rgb`` (H x W x 3 uint8, sRGB, as the sensor saw it) as a Bayer DNG.

    ``orientation`` is the EXIF Orientation stored in IFD0 (how to turn the image
    upright). The preview, when ``preview_long_side`` is given, is stored as the sensor
    saw it, like most cameras do, or already turned upright with ``preview_upright``.
    ``noise`` adds sensor noise (see :func:`_add_noise`, drawn from ``seed``);
    ``compress`` stores the mosaic as lossless JPEG (needs the imagecodecs package).
    """
    height, width = (s - s % 2 for s in rgb.shape[:2])
    rgb = rgb[:height, :width]
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    mosaic = _mosaic(rgb, black_level, white_level)
    if noise:
        mosaic = _add_noise(mosaic, noise, seed, white_level)
    strip = _encode(mosaic, compress, white_level)
    raw_entries = _raw_entries(width, height, _append(out, strip), black_level, white_level)
    if compress:
        raw_entries[258] = (SHORT, [white_level.bit_length()])
        raw_entries[259] = (SHORT, [7])  # lossless JPEG
        raw_entries[279] = (LONG, [len(strip)])
    camera = _camera_entries(orientation)
    if exif is not None:
        camera[34665] = (LONG, [_append_ifd(out, _exif_entries(exif))])
    if preview_long_side is None:
        ifd0 = {**raw_entries, **camera}
    else:
        jpeg, preview_size = _preview(rgb, preview_long_side, orientation if preview_upright else 1)
        ifd0 = {**_preview_entries(preview_size, _append(out, jpeg), len(jpeg)), **camera}
        ifd0[330] = (LONG, [_append_ifd(out, raw_entries)])  # SubIFDs
    struct.pack_into("<I", out, 4, _append_ifd(out, ifd0))
    Path(path).write_bytes(bytes(out))
    return Path(path)


def _mosaic(rgb: np.ndarray, black: int, white: int) -> np.ndarray:
    """RGGB samples of the linearised picture, scaled between black and white level.

    A 256-entry table does the linearisation: a 24 MP mosaic in a tenth of a second.
    """
    value = np.arange(256) / 255.0
    linear = np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)
    table = np.round(black + linear * (white - black)).astype(np.uint16)
    cfa = np.empty(rgb.shape[:2], np.uint16)
    cfa[0::2, 0::2] = table[rgb[0::2, 0::2, 0]]
    cfa[0::2, 1::2] = table[rgb[0::2, 1::2, 1]]
    cfa[1::2, 0::2] = table[rgb[1::2, 0::2, 1]]
    cfa[1::2, 1::2] = table[rgb[1::2, 1::2, 2]]
    return cfa


def _add_noise(mosaic: np.ndarray, noise: float, seed: int, white: int) -> np.ndarray:
    """Gaussian sensor noise: shot noise growing with the signal's square root, plus a read floor.

    ``noise`` is the standard deviation, in raw units, of a sample at white level; the
    floor is a tenth of it. Without it a mosaic made from 8-bit pictures holds only 256
    levels and compresses unlike any camera's.
    """
    signal = mosaic.astype(np.float32) / white
    sigma = noise * np.sqrt(signal + 0.01, dtype=np.float32)
    draws = np.random.default_rng(seed).standard_normal(mosaic.shape, dtype=np.float32)
    return np.clip(mosaic + draws * sigma, 0, white).astype(np.uint16)


def _encode(mosaic: np.ndarray, compress: bool, white: int) -> bytes:
    """The mosaic's strip: 16-bit little-endian samples, or lossless JPEG at the white level's bit depth."""
    if not compress:
        return mosaic.astype("<u2").tobytes()
    import imagecodecs  # only benchmarks compress; the tests do without the package

    # Each row as two interleaved components, as cameras and Adobe's converter store a
    # Bayer mosaic: every sample is predicted from the previous one of its own colour.
    pairs = mosaic.reshape(mosaic.shape[0], -1, 2)
    return bytes(imagecodecs.jpeg8_encode(pairs, lossless=True, predictor=1, bitspersample=white.bit_length()))


def _preview(rgb: np.ndarray, long_side: int, orientation: int) -> tuple[bytes, tuple[int, int]]:
    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    small = _upright(small, orientation)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes(), (small.shape[1], small.shape[0])


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """Only the rotations a camera records (1, 3, 6, 8)."""
    turns = {1: None, 3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}[orientation]
    return image if turns is None else cv2.rotate(image, turns)


def _raw_entries(width: int, height: int, offset: int, black: int, white: int) -> Entries:
    return {
        254: (LONG, [0]),  # NewSubfileType: the main image
        256: (LONG, [width]),
        257: (LONG, [height]),
        258: (SHORT, [16]),
        259: (SHORT, [1]),  # uncompressed
        262: (SHORT, [32803]),  # PhotometricInterpretation: CFA
        273: (LONG, [offset]),
        277: (SHORT, [1]),
        278: (LONG, [height]),
        279: (LONG, [width * height * 2]),
        284: (SHORT, [1]),
        33421: (SHORT, [2, 2]),  # CFARepeatPatternDim
        33422: (BYTE, [0, 1, 1, 2]),  # CFAPattern: RGGB
        50714: (LONG, [black]),  # BlackLevel
        50717: (LONG, [white]),  # WhiteLevel
    }


def _preview_entries(size: tuple[int, int], offset: int, length: int) -> Entries:
    width, height = size
    return {
        254: (LONG, [1]),  # NewSubfileType: a reduced-resolution copy
        256: (LONG, [width]),
        257: (LONG, [height]),
        258: (SHORT, [8, 8, 8]),
        259: (SHORT, [7]),  # JPEG
        262: (SHORT, [6]),  # YCbCr
        273: (LONG, [offset]),
        277: (SHORT, [3]),
        278: (LONG, [height]),
        279: (LONG, [length]),
        284: (SHORT, [1]),
        530: (SHORT, [2, 2]),  # YCbCrSubSampling
    }


def _camera_entries(orientation: int) -> Entries:
    return {
        271: (ASCII, "blurwatch"),
        272: (ASCII, "test DNG"),
        274: (SHORT, [orientation]),
        50706: (BYTE, [1, 4, 0, 0]),  # DNGVersion
        50707: (BYTE, [1, 1, 0, 0]),  # DNGBackwardVersion
        50708: (ASCII, "blurwatch test DNG"),  # UniqueCameraModel
        50721: (SRATIONAL, [v for c in _XYZ_TO_SRGB for v in (round(c * 10000), 10000)]),  # ColorMatrix1
        50728: (RATIONAL, [1, 1, 1, 1, 1, 1]),  # AsShotNeutral: the "camera" is already white balanced
        50778: (SHORT, [21]),  # CalibrationIlluminant1: D65
    }


def _exif_entries(exif: Exif) -> Entries:
    return {
        33434: (RATIONAL, list(exif.exposure_time)),  # ExposureTime
        34855: (SHORT, [exif.iso]),  # ISOSpeedRatings
        41989: (SHORT, [exif.focal_length_35mm]),  # FocalLengthIn35mmFilm
    }


def _append(out: bytearray, blob: bytes) -> int:
    """Append ``blob`` at a word boundary; return its offset."""
    if len(out) % 2:
        out.append(0)
    offset = len(out)
    out += blob
    return offset


def _append_ifd(out: bytearray, entries: Entries) -> int:
    if len(out) % 2:
        out.append(0)
    return _append(out, _ifd(entries, len(out)))


def _ifd(entries: Entries, offset: int) -> bytes:
    """One IFD to be placed at ``offset``: its entry table, then the values too big for it."""
    table = struct.pack("<H", len(entries))
    overflow = b""
    overflow_at = offset + 2 + 12 * len(entries) + 4
    for tag in sorted(entries):
        kind, values = entries[tag]
        payload, count = _pack(kind, values)
        if len(payload) <= 4:
            field = payload.ljust(4, b"\x00")
        else:
            field = struct.pack("<I", overflow_at + len(overflow))
            overflow += payload + b"\x00" * (len(payload) % 2)
        table += struct.pack("<HHI", tag, kind, count) + field
    return table + struct.pack("<I", 0) + overflow


def _pack(kind: int, values: Value) -> tuple[bytes, int]:
    if kind == ASCII:
        text = str(values).encode("ascii") + b"\x00"
        return text, len(text)
    numbers = list(values)
    payload = struct.pack(f"<{len(numbers)}{_FORMATS[kind]}", *numbers)
    return payload, len(numbers) // 2 if kind in (RATIONAL, SRATIONAL) else len(numbers)
