"""Judging: a decoded photo in, its result out, the one call the job makes between decode and write."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurwatch import decoding, verdict
from blurwatch.config import Config, SidecarConfig
from blurwatch.pipeline import judge
from blurwatch.sharpness import SharpnessModel, default_model_dir
from helpers.photos import make_photo

pytestmark = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)


@pytest.fixture
def decoded(tmp_path: Path) -> decoding.DecodedPhoto:
    return decoding.decode(make_photo(tmp_path / "a.jpg", size=(900, 600)), Config().decode)


def test_the_result_carries_the_decode_the_model_and_its_thresholds(decoded: decoding.DecodedPhoto,
                                                                    model: SharpnessModel) -> None:
    result = judge(decoded, Config(), model)
    assert result.path == decoded.path and result.decoded_from == "jpeg"
    assert result.model_version == model.version
    assert result.thresholds == verdict.thresholds(Config(), verdict.Thresholds(**model.thresholds))
    assert 0.0 <= result.sharpness.score <= 1.0
    assert result.rating == verdict.rating(result.verdict, Config().sidecar)


def test_judging_writes_nothing_and_gives_the_same_result_twice(tmp_path: Path, decoded: decoding.DecodedPhoto,
                                                                 model: SharpnessModel) -> None:
    first, second = judge(decoded, Config(), model), judge(decoded, Config(), model)
    assert first.to_json() == second.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_the_json_form_is_what_once_prints(decoded: decoding.DecodedPhoto, model: SharpnessModel) -> None:
    record = judge(decoded, Config(), model).to_json()
    assert set(record) == {"path", "verdict", "reasons", "rating", "scores", "thresholds", "sharpness_map",
                           "decoded_from", "model_version"}
    assert set(record["scores"]) == {"sharpness", "patches", "exposure_ev", "clipped", "crushed", "shadows",
                                     "highlights", "median"}


def test_the_sidecar_settings_decide_the_rating(decoded: decoding.DecodedPhoto, model: SharpnessModel) -> None:
    config = Config(sidecar=SidecarConfig(keeper_rating=4, review_rating=2))
    result = judge(decoded, config, model)
    assert result.rating == {"keep": 4, "review": 2, "reject": -1}[result.verdict.decision]
