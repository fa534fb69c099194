"""Judging: a decoded photo in, its result out, the one call the job makes between decode and write."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from blurwatch import decoding, verdict
from blurwatch.config import Config, SidecarConfig
from blurwatch.pipeline import Models, judge
from blurwatch.sharpness import default_model_dir

pytestmark = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)


@pytest.fixture
def decoded(tmp_path: Path) -> decoding.DecodedPhoto:
    """A photo with detail enough for a sharpness score: crisp blocks of random grey."""
    rng = np.random.default_rng(0)
    blocks = cv2.resize(rng.integers(0, 256, (75, 113), dtype=np.uint8), (900, 600), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(tmp_path / "a.jpg"), blocks, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return decoding.decode(tmp_path / "a.jpg", Config().decode)


def test_the_result_carries_the_decode_the_model_and_its_thresholds(decoded: decoding.DecodedPhoto,
                                                                    models: Models) -> None:
    result = judge(decoded, Config(), models)
    assert result.path == decoded.path and result.decoded_from == "jpeg"
    assert result.model_version == models.version == f"{models.sharpness.version}+{models.exposure.version}"
    assert result.thresholds == verdict.thresholds(Config(), models.sharpness.thresholds, models.exposure.thresholds)
    assert result.sharpness.score is not None and 0.0 <= result.sharpness.score <= 1.0
    assert 0.0 <= result.exposure.dark <= 1.0 and 0.0 <= result.exposure.overexposed <= 1.0
    assert result.rating == verdict.rating(result.verdict, Config().sidecar)


def test_judging_writes_nothing_and_gives_the_same_result_twice(tmp_path: Path, decoded: decoding.DecodedPhoto,
                                                                 models: Models) -> None:
    first, second = judge(decoded, Config(), models), judge(decoded, Config(), models)
    assert first.to_json() == second.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_judging_adds_the_time_of_each_step_and_is_the_same_untimed(decoded: decoding.DecodedPhoto,
                                                                     models: Models) -> None:
    timings = {"decode": 0.5}
    timed = judge(decoded, Config(), models, timings)
    assert set(timings) == {"decode", "exposure", "patches", "network"} and timings["decode"] == 0.5
    assert all(seconds > 0 for seconds in timings.values())
    assert timed.to_json() == judge(decoded, Config(), models).to_json()


def test_the_json_form_is_what_once_prints(decoded: decoding.DecodedPhoto, models: Models) -> None:
    record = judge(decoded, Config(), models).to_json()
    assert set(record) == {"path", "verdict", "reasons", "rating", "scores", "thresholds", "sharpness_map",
                           "decoded_from", "model_version"}
    assert set(record["scores"]) == {"sharpness", "patches", "dark", "overexposed", "exposure_ev", "clipped",
                                     "crushed", "shadows", "highlights", "median"}
    assert set(record["thresholds"]) == {"sharpness", "dark", "overexposed"}


def test_the_sidecar_settings_decide_the_rating(decoded: decoding.DecodedPhoto, models: Models) -> None:
    config = Config(sidecar=SidecarConfig(keeper_rating=4, review_rating=2))
    result = judge(decoded, config, models)
    assert result.rating == {"keep": 4, "review": 2, "reject": -1}[result.verdict.decision]
