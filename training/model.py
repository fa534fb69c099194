"""The network: a LeNet (2 convolutions, 3 dense layers) over one grayscale patch.

Small on purpose: blur is a local property of edges, a few thousand parameters of
convolution see it; the dense layers only weigh the evidence. The exported ``.tflite``
(float32) is 175 kB and scores some 9,000 patches a second on one AVX-512 core.
"""

from __future__ import annotations

import numpy as np


def build(patch_size: int, conv: tuple[int, int], dense: tuple[int, int]):
    """The Keras model, uncompiled.

    ``conv``: the filters of its two 5x5 convolutions; ``dense``: the units of its first two dense layers.
    """
    import tensorflow as tf

    keras = tf.keras
    inputs = keras.Input((patch_size, patch_size, 1), name="patch")
    x = keras.layers.Conv2D(conv[0], 5, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(conv[1], 5, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(4, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense[0], activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    x = keras.layers.Dense(dense[1], activation="relu", name="dense2")(x)
    outputs = keras.layers.Dense(1, name="sharp_logit")(x)  # a logit: blurwatch aggregates logits
    return keras.Model(inputs, outputs, name="blurwatch_lenet")


def train(x: np.ndarray, y: np.ndarray, patch_size: int, conv: tuple[int, int], dense: tuple[int, int],
          epochs: int, seed: int, batch: int = 128):
    """Fit a fresh model on (x, y); deterministic for a given seed on one machine."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build(patch_size, conv, dense)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    order = np.random.default_rng(seed).permutation(len(x))
    model.fit(x[order], y[order], epochs=epochs, batch_size=batch, verbose=2)
    return model


def export_tflite(model, path) -> int:
    """Write the ``.tflite`` blurwatch runs, with a dynamic batch dimension; returns its size in bytes.

    Float32, not quantised: LiteRT's XNNPACK kernels run this small network faster in
    float on both CPU kinds measured. AVX-512: 9,100 patches/s against 7,500 with int8
    weights (dynamic-range), same run (bench/network.py); AVX2, as issue #16 reports it:
    2,350 against 1,500. A float network also gives the logits training measured, and
    a patch's logit cannot depend on its batch.
    """
    import tensorflow as tf

    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path.write_bytes(data)
    return len(data)
