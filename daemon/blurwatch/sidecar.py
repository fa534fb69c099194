"""Sidecars: merge blurwatch's verdict into XMP files atomically, never clobbering.

(Interface fixed; the implementation is being written.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blurwatch.config import SidecarConfig
from blurwatch.pipeline import PhotoResult

NAMESPACE = "http://ns.blurwatch.org/xmp/1.0/"
PREFIX = "blurwatch"


@dataclass(frozen=True)
class StoredVerdict:
    """blurwatch's fields as read back from a sidecar (for the report, plugin, calibrate)."""

    sidecar: Path
    verdict: str
    reasons: tuple[str, ...]
    sharpness: float
    exposure_ev: float
    clipped: float
    crushed: float
    sharpness_map: str
    model_version: str
    decoded_from: str
    rating: int | None  # the xmp:Rating now in the sidecar (whoever wrote it)
    rating_is_manual: bool  # the current rating was not written by blurwatch


def sidecar_paths(photo: Path, naming: str) -> list[Path]:
    raise NotImplementedError


def write_verdict(photo: Path, result: PhotoResult, config: SidecarConfig, force: bool = False) -> list[Path]:
    raise NotImplementedError


def read_verdict(photo: Path, naming: str = "darktable") -> StoredVerdict | None:
    raise NotImplementedError
