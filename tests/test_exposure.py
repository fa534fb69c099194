"""Exposure figures on made images, and the shipped exposure model on made and real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blurwatch import decoding, exposure
from blurwatch.config import Config, DecodeConfig
from blurwatch.exposure import FEATURES
from conftest import requires_shared
from training.data import read_labelled


def _image(levels: list[tuple[int, float]], size: int = 200) -> np.ndarray:
    """A uint8 image made of the given (level, share) parts."""
    counts = [int(round(share * size * size)) for _, share in levels]
    counts[-1] = size * size - sum(counts[:-1])
    parts = [np.full(n, v, np.uint8) for (v, _), n in zip(levels, counts, strict=True)]
    return np.concatenate(parts).reshape(size, size)


def _figures(gray: np.ndarray) -> dict[str, float]:
    return exposure.figures(exposure.histogram(gray))


def test_mid_grey_is_zero_ev() -> None:
    figures = _figures(np.full((50, 50), 118, np.uint8))  # sRGB 118 is 18% linear
    assert figures["mean_ev"] == pytest.approx(0.0, abs=0.05)
    assert figures["clipped"] == 0 and figures["crushed"] == 0


def test_one_stop_darker_is_minus_one_ev() -> None:
    half = round(255 * ((0.09 ** (1 / 2.4)) * 1.055 - 0.055))
    assert _figures(np.full((10, 10), half, np.uint8))["mean_ev"] == pytest.approx(-1.0, abs=0.05)


def test_figures_ignore_size() -> None:
    small = _image([(40, 0.5), (200, 0.5)])
    big = cv2.resize(small, (800, 800), interpolation=cv2.INTER_NEAREST)
    assert _figures(big)["mean_ev"] == pytest.approx(_figures(small)["mean_ev"], abs=0.01)


def test_features_are_the_models_inputs() -> None:
    gray = _image([(3, 0.3), (60, 0.4), (250, 0.3)])
    values = exposure.features(gray, exposure.histogram(gray))
    assert tuple(values) == FEATURES
    assert values["clipped"] == pytest.approx(np.log10(0.3 + 1e-3), abs=0.01)


def test_a_blown_sky_is_a_blown_area_but_a_lamp_is_not() -> None:
    sky = np.full((320, 320), 120, np.uint8)
    sky[:100] = 255
    lamps = np.full((320, 320), 120, np.uint8)
    lamps[::40, ::40] = 255
    blown = {name: exposure.features(g, exposure.histogram(g))["blown_area"]
             for name, g in (("sky", sky), ("lamps", lamps))}
    assert blown["sky"] > -0.6 > -2.5 > blown["lamps"]


def test_edges_tell_where_the_detail_is() -> None:
    """A dark frame with a lit window: the detail (and so the edges) sits in the shadows."""
    rng = np.random.default_rng(4)
    room = (rng.random((300, 400)) * 25 + 5).astype(np.uint8)
    room = cv2.GaussianBlur(room, (0, 0), 2)
    room[:60, :80] = 255
    values = exposure.features(room, exposure.histogram(room))
    assert values["edge_level"] < 0.5


@pytest.mark.parametrize(("levels", "fault"), [
    ([(2, 0.4), (12, 0.5), (35, 0.1)], "dark"),  # nothing in it reaches above level 40
    ([(190, 0.3), (235, 0.3), (255, 0.4)], "overexposed"),  # blacks lifted to 190, 40% blown
])
def test_the_shipped_model_calls_plain_faults(models, levels: list[tuple[int, float]], fault: str) -> None:
    judged = models.exposure.judge(_image(levels))
    assert getattr(judged, fault) > models.exposure.thresholds[fault]["review_at"]


def test_the_shipped_model_keeps_a_well_exposed_frame(models) -> None:
    rng = np.random.default_rng(1)
    frame = np.clip(rng.normal(118, 50, (300, 400)), 0, 255).astype(np.uint8)
    judged = models.exposure.judge(frame)
    assert judged.dark < models.exposure.thresholds["dark"]["review_at"]
    assert judged.overexposed < models.exposure.thresholds["overexposed"]["review_at"]


@requires_shared
@pytest.mark.shared
def test_real_faults_are_ranked_above_good_photos(shared_data, models) -> None:
    """The shipped model on the team's development photos (in-sample: a sanity floor; the model card has the
    cross-validated figures). Faults rank above good photos, and few good photos reach a reject limit."""
    config = Config()
    photos = [p for p in read_labelled(shared_data, ("photos",))
              if p.label in ("dark", "overexposed", "sharp", "bokeh_sharp")]
    judged = {p.path: models.exposure.judge(decoding.decode(p.path, DecodeConfig()).gray) for p in photos}
    good = [judged[p.path] for p in photos if p.label in ("sharp", "bokeh_sharp")]
    limits = models.thresholds(config)
    for fault in ("dark", "overexposed"):
        bad = np.array([getattr(judged[p.path], fault) for p in photos if p.label == fault])
        fine = np.array([getattr(j, fault) for j in good])
        ranked = float((bad[:, None] > fine[None, :]).mean())
        flagged = float(np.mean(bad >= getattr(limits, fault).review_at))
        print(f"{fault}: ranked above good photos {ranked:.1%}, rejected or reviewed {flagged:.0%} of {len(bad)}")
        assert ranked >= 0.95 and flagged >= 0.7
    rejected = [j.dark >= limits.dark.reject_at or j.overexposed >= limits.overexposed.reject_at for j in good]
    assert np.mean(rejected) <= 0.02
