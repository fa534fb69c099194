"""Exposure figures and flags on made images and on the team's real photos."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from blurwatch import decoding, exposure
from blurwatch.config import DecodeConfig, ExposureConfig
from conftest import requires_shared


def _image(levels: list[tuple[int, float]], size: int = 200) -> np.ndarray:
    """A uint8 image made of the given (level, share) parts."""
    counts = [int(round(share * size * size)) for _, share in levels]
    counts[-1] = size * size - sum(counts[:-1])
    runs = [np.full(n, v, np.uint8) for (v, _), n in zip(levels, counts, strict=True)]
    return np.concatenate(runs).reshape(size, size)


def test_mid_grey_is_zero_ev():
    figures = exposure.measure(np.full((50, 50), 118, np.uint8))  # sRGB 118 is 18% linear
    assert figures.mean_ev == pytest.approx(0.0, abs=0.05)
    assert figures.clipped == 0 and figures.crushed == 0


def test_one_stop_darker_is_minus_one_ev():
    half = round(255 * ((0.09 ** (1 / 2.4)) * 1.055 - 0.055))
    assert exposure.measure(np.full((10, 10), half, np.uint8)).mean_ev == pytest.approx(-1.0, abs=0.05)


def test_underexposed_frame_is_dark():
    dark = _image([(3, 0.3), (20, 0.6), (60, 0.1)])
    assert exposure.flags(exposure.measure(dark), ExposureConfig()) == ("dark",)


def test_night_scene_with_lamps_is_kept():
    night = _image([(5, 0.5), (25, 0.45), (255, 0.05)])
    figures = exposure.measure(night)
    assert figures.mean_ev < ExposureConfig().dark_ev
    assert exposure.flags(figures, ExposureConfig()) == ()


def test_blown_out_frame_is_overexposed():
    blown = _image([(170, 0.2), (230, 0.5), (255, 0.3)])
    assert exposure.flags(exposure.measure(blown), ExposureConfig()) == ("overexposed",)


def test_snow_scene_with_darks_and_few_clipped_pixels_is_kept():
    snow = _image([(15, 0.04), (90, 0.1), (215, 0.6), (240, 0.24), (252, 0.02)])
    figures = exposure.measure(snow)
    assert figures.mean_ev > ExposureConfig().overexposed_ev  # bright overall...
    assert exposure.flags(figures, ExposureConfig()) == ()  # ...but exposed well


def test_stricter_sensitivity_flags_more():
    dim = _image([(10, 0.5), (60, 0.5)])
    figures = exposure.measure(dim)
    config = ExposureConfig(dark_ev=figures.mean_ev - 0.2)
    assert exposure.flags(figures, config) == ()
    assert exposure.flags(figures, config, shift_ev=0.5) == ("dark",)


@requires_shared
@pytest.mark.shared
def test_real_dark_and_overexposed_photos(shared_data):
    """An honest floor on the team's photos (thresholds were set from round physical values)."""
    with open(shared_data / "photos" / "manifest.csv", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest))
    caught = {"dark": [], "overexposed": []}
    good_flagged = []
    for row in rows:
        if row["label"] not in ("dark", "overexposed", "sharp", "bokeh_sharp"):
            continue
        gray = decoding.decode(shared_data / "photos" / row["relpath"], DecodeConfig()).gray
        flagged = exposure.flags(exposure.measure(gray), ExposureConfig())
        if row["label"] in caught:
            caught[row["label"]].append(row["label"] in flagged)
        else:
            good_flagged.append(bool(flagged))
    rates = {k: float(np.mean(v)) for k, v in caught.items()}
    print(f"exposure: dark caught {rates['dark']:.1%}, overexposed caught {rates['overexposed']:.1%}, "
          f"good photos flagged {np.mean(good_flagged):.1%} of {len(good_flagged)}")
    assert rates["dark"] >= 0.88
    assert rates["overexposed"] >= 0.95
    assert np.mean(good_flagged) <= 0.03


def test_measure_ignores_size():
    big = cv2.resize(_image([(40, 0.5), (200, 0.5)]), (800, 800), interpolation=cv2.INTER_NEAREST)
    small = _image([(40, 0.5), (200, 0.5)])
    assert exposure.measure(big).mean_ev == pytest.approx(exposure.measure(small).mean_ev, abs=0.01)
