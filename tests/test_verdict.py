"""The verdict rules: each fault's limits, the review band, sensitivity and ratings."""

from __future__ import annotations

import numpy as np
import pytest

from blurwatch import verdict
from blurwatch.config import Config, ExposureConfig, SharpnessConfig, SidecarConfig
from blurwatch.exposure import Exposure
from blurwatch.sharpness import NO_DETAIL, TOO_SMALL, Sharpness
from blurwatch.verdict import Limits, Thresholds, Verdict

FIGURES = {"mean_ev": 0.0, "clipped": 0.0, "crushed": 0.0, "shadows": 10, "highlights": 240, "median": 118}
WELL_EXPOSED = Exposure(**FIGURES, dark=0.02, overexposed=0.01)
DARK = Exposure(**FIGURES, dark=0.97, overexposed=0.0)
DOUBTFULLY_DARK = Exposure(**FIGURES, dark=0.7, overexposed=0.0)
LIMITS = Thresholds(reject_below=0.3, keep_from=0.6, dark=Limits(0.9, 0.5), overexposed=Limits(0.9, 0.5))
MODEL_SHARPNESS = {"reject_below": 0.3, "keep_from": 0.6}
MODEL_EXPOSURE = {"dark": {"reject_at": 0.9, "review_at": 0.5}, "overexposed": {"reject_at": 0.8, "review_at": 0.4}}


def _sharp(score: float | None, note: str | None = None) -> Sharpness:
    return Sharpness(score, np.zeros((1, 1), np.float32), 10 if score is not None else 0, note)


@pytest.mark.parametrize(
    ("score", "decision", "reasons"),
    [(0.1, "reject", ("blurry",)), (0.45, "review", ("blurry",)), (0.9, "keep", ())],
)
def test_sharpness_bands(score: float, decision: str, reasons: tuple[str, ...]) -> None:
    result = verdict.decide(_sharp(score), WELL_EXPOSED, LIMITS)
    assert (result.decision, result.reasons) == (decision, reasons)


def test_exposure_rejects_a_sharp_photo_and_blur_adds_its_reason() -> None:
    assert verdict.decide(_sharp(0.9), DARK, LIMITS).reasons == ("dark",)
    assert verdict.decide(_sharp(0.1), DARK, LIMITS).reasons == ("blurry", "dark")


def test_a_doubt_about_exposure_is_a_review_not_a_reject() -> None:
    result = verdict.decide(_sharp(0.9), DOUBTFULLY_DARK, LIMITS)
    assert (result.decision, result.reasons) == ("review", ("dark",))
    assert verdict.decide(_sharp(0.45), DOUBTFULLY_DARK, LIMITS).reasons == ("blurry", "dark")


@pytest.mark.parametrize("note", [TOO_SMALL, NO_DETAIL])
def test_without_a_sharpness_score_a_photo_is_never_rejected_as_blurry(note: str) -> None:
    result = verdict.decide(_sharp(None, note), WELL_EXPOSED, LIMITS)
    assert (result.decision, result.reasons) == ("review", (note,))
    assert verdict.decide(_sharp(None, note), DARK, LIMITS).reasons == ("dark",)


def test_sensitivity_moves_every_limit_in_order() -> None:
    base, strict, lenient = (verdict.thresholds(Config(sensitivity=s), MODEL_SHARPNESS, MODEL_EXPOSURE)
                             for s in (0.0, 1.0, -1.0))
    assert lenient.reject_below < base.reject_below < strict.reject_below
    assert lenient.keep_from < base.keep_from < strict.keep_from
    for fault in ("dark", "overexposed"):
        lenient_limits, base_limits, strict_limits = (getattr(t, fault) for t in (lenient, base, strict))
        assert lenient_limits.reject_at > base_limits.reject_at > strict_limits.reject_at
        assert lenient_limits.review_at > base_limits.review_at > strict_limits.review_at
        assert strict_limits.review_at > 0 and lenient_limits.reject_at < 1


def test_config_limits_override_the_models() -> None:
    config = Config(sharpness=SharpnessConfig(reject_below=0.1, keep_from=0.2),
                    exposure=ExposureConfig(dark_reject_at=0.99, dark_review_at=None,
                                            overexposed_reject_at=None, overexposed_review_at=0.3))
    assert verdict.thresholds(config, MODEL_SHARPNESS, MODEL_EXPOSURE) == Thresholds(
        0.1, 0.2, Limits(0.99, 0.5), Limits(0.8, 0.3))


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
def test_rating(decision: str, quality: float, sidecar: SidecarConfig, expected: int | None) -> None:
    assert verdict.rating(Verdict(decision, (), quality), sidecar) == expected  # type: ignore[arg-type]
