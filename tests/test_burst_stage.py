"""The burst stage's edge on small files with camera EXIF: which shots it defers, widens to and rewrites."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from blurwatch import burst_stage, discovery, sidecar
from blurwatch.capture import Capture
from blurwatch.config import BurstConfig, Config
from blurwatch.job import Job
from helpers import shoots
from helpers.results import photo_result

CONFIG = Config()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """IMG_1..3 a second apart (one camera), IMG_4 a minute later, IMG_5 by another camera at once."""
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    for i, seconds in enumerate([0.0, 1.0, 2.0, 60.0], start=1):
        shoots.write_frame(tmp_path / f"IMG_{i}.jpg", image, shoots.START + timedelta(seconds=seconds))
    shoots.write_frame(tmp_path / "IMG_5.jpg", image, shoots.START, camera=shoots.Camera(serial="other"))
    return tmp_path


def names(paths: object) -> list[str]:
    return sorted(Path(p).name for p in paths)  # type: ignore[attr-defined]


def test_shots_with_a_neighbour_in_time_are_deferred(folder: Path) -> None:
    shots = discovery.folder_shots(folder)

    assert names(burst_stage.deferred(shots, CONFIG)) == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]
    assert burst_stage.deferred(shots, CONFIG.replace(burst=BurstConfig(enabled=False))) == set()


def test_a_named_photo_brings_the_shots_taken_around_it(folder: Path) -> None:
    widened = burst_stage.widen([(folder / "IMG_3.jpg",)], [folder / "IMG_3.jpg"], CONFIG)

    assert names(shot[0] for shot in widened) == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]


def test_only_shots_whose_group_changed_are_rewritten(tmp_path: Path) -> None:
    photos = [tmp_path / f"IMG_{i}.jpg" for i in range(3)]
    shots = []
    for i, photo in enumerate(photos):
        photo.write_bytes(b"a photo")
        result = photo_result(photo, "keep", rating=None, score=0.5 + 0.1 * i)
        sidecar.write_verdict(photo, result, CONFIG.sidecar, group=None)
        shots.append(burst_stage.Shot(Job((photo,)), result, Capture("c", i * 0.2, "exif", "00ff00ff00ff00ff"), None))
    groups = burst_stage.group(shots, CONFIG)

    first = burst_stage.apply(shots, groups, CONFIG)
    settled = [burst_stage.Shot(a.shot.job, a.shot.result, a.shot.capture, a.group) for a in first]
    again = burst_stage.apply(settled, groups, CONFIG)

    assert [bool(a.merges) for a in first] == [True, True, True]
    assert [a.group.best for a in first if a.group] == [False, False, True]
    assert [a.result.verdict.decision for a in first] == ["review", "review", "keep"]
    assert [a.merges for a in again] == [[], [], []]  # nothing changed: nothing read or written
