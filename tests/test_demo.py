"""The demo folder: its photos are built offline, with the faults they are said to have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blurwatch import demo
from blurwatch.errors import UsageError


def test_build_writes_every_photo_and_its_marker(tmp_path: Path) -> None:
    made = demo.build(tmp_path / "demo")
    assert [path.name for path, _ in made] == [photo.name for photo in demo.PHOTOS]
    assert all(path.stat().st_size > 10_000 for path, _ in made)
    assert (tmp_path / "demo" / demo.MARKER).is_file()
    demo.build(tmp_path / "demo")  # its own folder may be rebuilt


def test_build_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.JPG").write_bytes(b"someone's photo")
    with pytest.raises(UsageError, match="not a blurwatch demo folder"):
        demo.build(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.JPG"]


def test_blur_kernels_keep_the_light() -> None:
    assert demo.disc_kernel(6).sum() == pytest.approx(1.0)
    shake = demo.shake_kernel(np.random.default_rng(1), length=24)
    assert shake.sum() == pytest.approx(1.0)
    assert max(shake.shape) >= 9  # a path, not a dot


def test_faults_change_what_they_should() -> None:
    rng = np.random.default_rng(0)
    made = {p.name: p.make(demo._to_linear(demo._load(p.source)), rng) for p in demo.PHOTOS}
    original = demo._to_linear(demo._load("chelsea"))
    assert np.array_equal(made["chelsea.jpg"], original)
    for blurred in ("chelsea-defocus.jpg", "astronaut-shake.jpg", "motorcycle-bokeh.jpg"):
        source = demo._to_linear(demo._load(next(p.source for p in demo.PHOTOS if p.name == blurred)))
        assert made[blurred].mean() == pytest.approx(source.mean(), rel=0.02)  # blur moves light, keeps it
        assert np.abs(np.diff(made[blurred], axis=1)).mean() < 0.8 * np.abs(np.diff(source, axis=1)).mean()
    assert made["motorcycle-dark.jpg"].mean() < made["motorcycle.jpg"].mean() / 8
    assert (made["astronaut-bright.jpg"] >= 1.0).mean() > 0.2  # blown highlights
