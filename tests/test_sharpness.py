"""Patches, the photo figures, the sharpness map, and the shipped model on real photos."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from blurwatch import decoding, sharpness
from blurwatch.config import DecodeConfig
from blurwatch.sharpness import (
    MODEL_NAME,
    NO_DETAIL,
    PHOTO_FEATURES,
    TOO_SMALL,
    PatchSpec,
    SharpnessModel,
    decode_map,
    default_model_dir,
    encode_map,
    evidence_note,
    extract_patches,
    motion_coherence,
    photo_features,
)
from conftest import requires_shared
from training import degrade, patches
from training.data import working_gray

SPEC = PatchSpec()


def _texture(h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w)).astype(np.uint8), (0, 0), 0.8)


def test_flat_image_has_no_patches():
    patches = extract_patches(np.full((300, 400), 128, np.uint8), SPEC)
    assert len(patches.data) == 0
    assert patches.grid == (4, 6)


def test_patches_are_normalised_and_located():
    gray = np.full((256, 256), 128, np.uint8)
    gray[64:128, 128:192] = _texture(64, 64)
    patches = extract_patches(gray, SPEC)
    assert patches.cells.tolist() == [[1, 2]]
    assert patches.data.shape == (1, 64, 64, 1)
    assert abs(float(patches.data.mean())) < 1e-4 and float(patches.data.std()) == pytest.approx(1.0, abs=1e-3)


def test_patch_count_is_capped_at_the_most_textured():
    gray = _texture(64 * 20, 64 * 20)
    assert len(extract_patches(gray, SPEC).data) == SPEC.max_patches


def test_too_little_texture_is_no_evidence():
    tiny = extract_patches(np.zeros((48, 36), np.uint8), SPEC)
    assert evidence_note(tiny, SPEC) == TOO_SMALL
    sky = np.full((600, 900), 200, np.uint8)
    sky[80:110, 90:120] = _texture(30, 30)  # one bird in a clear sky
    assert evidence_note(extract_patches(sky, SPEC), SPEC) == NO_DETAIL
    assert evidence_note(extract_patches(_texture(300, 300), SPEC), SPEC) is None


def test_the_best_patches_decide():
    """A small sharp subject on a soft background: its best quarter is all subject."""
    logits = np.array([-8.0] * 36 + [12.0] * 12, np.float32)
    data = np.random.default_rng(1).normal(size=(48, 64, 64, 1)).astype(np.float32)
    figures = photo_features(logits, data, SPEC)
    assert set(figures) == set(PHOTO_FEATURES)
    assert figures["top_mean"] == figures["top3"] == 12.0
    assert figures["subject"] == 20.0  # the subject stands 20 logits above the median patch
    assert figures["evidence"] == pytest.approx(np.log(48))


def test_one_shared_gradient_direction_is_motion():
    rng = np.random.default_rng(2)
    streaks = np.repeat(rng.normal(size=(8, 64, 1, 1)), 64, axis=2).astype(np.float32)  # vertical lines only
    crosses = np.concatenate([streaks[:4], np.swapaxes(streaks[4:], 1, 2)])  # verticals and horizontals
    assert motion_coherence(streaks) > 0.95
    assert motion_coherence(crosses) < 0.2


def test_map_text_round_trip():
    grid = np.array([[0.0, 0.5, np.nan], [1.0, 0.22, 0.9]], np.float32)
    text = encode_map(grid)
    assert text == "04-/928"
    back = decode_map(text)
    assert np.isnan(back[0, 2]) and np.allclose(back[1], [1.0, 2 / 9, 8 / 9])


def test_shipped_model_and_metadata():
    meta = json.loads((default_model_dir() / f"{MODEL_NAME}.json").read_text())
    assert (default_model_dir() / f"{MODEL_NAME}.tflite").stat().st_size < 1_000_000
    assert 0 < meta["thresholds"]["reject_below"] <= meta["thresholds"]["keep_from"] < 1
    assert meta["patches"]["size"] == SPEC.size
    assert set(meta["head"]["features"]) <= set(PHOTO_FEATURES)


def test_model_scores_a_texture_and_its_blurred_copy(models):
    sharp = cv2.resize(_texture(128, 128), (512, 512), interpolation=cv2.INTER_NEAREST)  # crisp blocks
    blurred = degrade.blur(sharp, degrade.defocus_kernel(4.0)).astype(np.uint8)
    scores = models.sharpness.score(sharp).score, models.sharpness.score(blurred).score
    assert None not in scores and scores[0] > scores[1]


def test_a_tiny_photo_gets_no_score(models):
    result = models.sharpness.score(_texture(36, 48))
    assert result.score is None and result.note == TOO_SMALL


def test_model_is_loaded_once_and_is_deterministic(monkeypatch):
    made = []
    interpreter = sharpness._interpreter_class()
    monkeypatch.setattr(sharpness, "_interpreter_class", lambda: lambda **kw: made.append(kw) or interpreter(**kw))
    model = SharpnessModel.load()
    assert made == []  # loading reads the metadata; the interpreter waits for the first photo
    gray = _texture(300, 300, seed=3)
    first = model.score(gray)
    assert model.score(gray).score == first.score
    assert len(made) == 1  # created once, kept for every later photo
    assert first.map.shape == (4, 4)


@requires_shared
@pytest.mark.shared
def test_a_patchs_logit_does_not_depend_on_its_batch(models):
    """The int8 network quantises activations per patch, never per batch."""
    network = models.sharpness.network
    cut = extract_patches(_texture(512, 512, seed=5), network.spec).data
    mixed = np.concatenate([cut[:1], cut[1:] * 0.1 + 3.0])
    assert network.predict(cut[:1])[0] == network.predict(cut)[0] == network.predict(mixed)[0]


def test_scoring_prints_nothing_on_stderr():
    """LiteRT's "Created TensorFlow Lite XNNPACK delegate" line would repeat per worker."""
    code = ("import numpy as np; from blurwatch.sharpness import SharpnessModel; "
            "SharpnessModel.load().network.predict(np.zeros((3, 64, 64, 1), np.float32))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""


def test_training_and_inference_see_identical_patches(shared_data):
    path = sorted((shared_data / "photos" / "sharp").iterdir())[0]
    gray = decoding.decode(path, DecodeConfig()).gray
    assert np.array_equal(working_gray(path), gray)
    taken, _ = patches._patches(gray, SPEC, np.random.default_rng(5), count=10_000)
    rng = np.random.default_rng(5)
    dy, dx = (int(rng.integers(SPEC.size)) for _ in range(2))
    reference = extract_patches(gray[dy:, dx:], SPEC).data
    key = lambda a: a[np.lexsort(a.reshape(len(a), -1)[:, :8].T)]  # noqa: E731
    assert np.array_equal(key(taken), key(reference))


@requires_shared
@pytest.mark.shared
def test_real_bokeh_photo_is_sharp_and_its_map_shows_where(shared_data, models):
    path = shared_data / "photos" / "bokeh_sharp" / "imagenet__n01531178_goldfinch.JPEG"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this copy of the data")
    result = models.sharpness.score(decoding.decode(path, DecodeConfig()).gray)
    assert result.score is not None and result.score >= models.sharpness.thresholds["keep_from"]
    assert np.nanmin(result.map) < np.nanmax(result.map)
