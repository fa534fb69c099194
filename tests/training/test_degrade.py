"""Synthetic faults: blur kernels and exposure shifts behave like a camera's."""

from __future__ import annotations

import numpy as np
import pytest

from blurwatch import exposure
from training import degrade


def _scene() -> np.ndarray:
    rng = np.random.default_rng(3)
    gray = (rng.random((120, 160)) * 120 + 60).astype(np.uint8)
    gray[10:30, 10:40] = 255  # a blown window
    return gray


@pytest.mark.parametrize("ev", [-3.0, -2.0, 1.5])
def test_an_exposure_shift_moves_the_mean_by_about_its_stops(ev: float) -> None:
    gray = _scene()
    gray[10:30, 10:40] = 200  # nothing blown: the shift alone moves the mean
    before = exposure.figures(exposure.histogram(gray))["mean_ev"]
    after = exposure.figures(exposure.histogram(degrade.expose(gray, ev, np.random.default_rng(0))))["mean_ev"]
    assert after - before == pytest.approx(ev, abs=0.6)  # clipping and the JPEG take a little


def test_an_underexposed_copy_keeps_its_bright_window_sometimes() -> None:
    """What was blown had headroom: a room shot 2 stops under still shows a bright window."""
    windows = [degrade.expose(_scene(), -2.0, np.random.default_rng(seed))[15:25, 15:35].mean() for seed in range(20)]
    assert max(windows) > 200 and min(windows) < max(windows)


def test_random_exposures_cover_the_three_kinds() -> None:
    rng = np.random.default_rng(5)
    kinds = {kind for _, kind in (degrade.random_exposure(rng) for _ in range(60))}
    assert kinds == {"dark", "ok", "overexposed"}


@pytest.mark.parametrize("kernel", [degrade.defocus_kernel(3.0), degrade.shake_kernel(7.0, np.random.default_rng(2)),
                                    degrade.line_kernel(6.0, 0.5), degrade.gaussian_kernel(2.0)])
def test_blur_kernels_keep_the_light(kernel: np.ndarray) -> None:
    assert kernel.sum() == pytest.approx(1.0, abs=1e-4)
    assert (kernel >= 0).all()
