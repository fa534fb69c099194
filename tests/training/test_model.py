"""The exported network: what blurwatch runs must give the trained Keras model's logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blurwatch.sharpness import PatchNetwork, PatchSpec
from training import model


def test_the_network_reaches_60_of_64_pixels() -> None:
    assert model.reach(64) == 60  # conv 5 -> 60, pool 2 -> 30, conv 5 -> 26, pool 4 reads 24 of them
    assert model.reach(63) == 60 and model.reach(65) == 60 and model.reach(32) == 28


@pytest.mark.train
def test_the_exported_network_reads_less_and_gives_the_keras_logits(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[train]')")
    tf.keras.utils.set_random_seed(3)
    keras_model = model.build(64, (8, 16), (64, 32))
    model.export_tflite(keras_model, tmp_path / "sharpness.tflite")
    patches = np.random.default_rng(4).standard_normal((40, 64, 64, 1)).astype(np.float32)
    network = PatchNetwork(tmp_path / "sharpness.tflite", PatchSpec())

    logits = network.predict(patches)
    assert np.allclose(logits, keras_model(patches).numpy().ravel(), atol=1e-4)
    patches[:, 60:, :] = patches[:, :, 60:] = 99.0  # what the network does not reach changes nothing
    assert np.array_equal(network.predict(patches), logits)
