"""The verdict rules: thresholds, the review band, sensitivity and ratings."""

from __future__ import annotations

import pytest

from blurwatch import verdict
from blurwatch.config import Config, SharpnessConfig, SidecarConfig
from blurwatch.exposure import Exposure
from blurwatch.verdict import Thresholds, Verdict

WELL_EXPOSED = Exposure(mean_ev=0.0, clipped=0.0, crushed=0.0, shadows=10, highlights=240, median=118)
DARK = Exposure(mean_ev=-4.0, clipped=0.0, crushed=0.6, shadows=0, highlights=60, median=3)
LIMITS = Thresholds(reject_below=0.3, keep_from=0.6)


@pytest.mark.parametrize(
    ("score", "decision", "reasons"),
    [(0.1, "reject", ("blurry",)), (0.45, "review", ("blurry",)), (0.9, "keep", ())],
)
def test_sharpness_bands(score, decision, reasons):
    result = verdict.decide(score, WELL_EXPOSED, Config(), LIMITS)
    assert (result.decision, result.reasons) == (decision, reasons)


def test_exposure_rejects_a_sharp_photo_and_blur_adds_its_reason():
    assert verdict.decide(0.9, DARK, Config(), LIMITS).reasons == ("dark",)
    assert verdict.decide(0.1, DARK, Config(), LIMITS).reasons == ("blurry", "dark")


def test_sensitivity_moves_both_thresholds_in_order():
    base = verdict.thresholds(Config(), LIMITS)
    strict = verdict.thresholds(Config(sensitivity=1.0), LIMITS)
    lenient = verdict.thresholds(Config(sensitivity=-1.0), LIMITS)
    assert lenient.reject_below < base.reject_below < strict.reject_below
    assert lenient.keep_from < base.keep_from < strict.keep_from
    assert lenient.reject_below > 0 and strict.keep_from < 1


def test_config_thresholds_override_the_model():
    config = Config(sharpness=SharpnessConfig(reject_below=0.1, keep_from=0.2))
    assert verdict.thresholds(config, LIMITS) == Thresholds(0.1, 0.2)


@pytest.mark.parametrize(
    ("decision", "quality", "sidecar", "expected"),
    [
        ("reject", 0.0, SidecarConfig(), -1),
        ("review", 0.0, SidecarConfig(), None),
        ("review", 0.0, SidecarConfig(review_rating=1), 1),
        ("keep", 0.5, SidecarConfig(), None),
        ("keep", 0.5, SidecarConfig(keeper_rating=3), 3),
        ("keep", 0.0, SidecarConfig(keeper_rating="by_quality"), 1),
        ("keep", 1.0, SidecarConfig(keeper_rating="by_quality"), 5),
    ],
)
def test_rating(decision, quality, sidecar, expected):
    assert verdict.rating(Verdict(decision, (), quality), sidecar) == expected
