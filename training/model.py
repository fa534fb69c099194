"""The network: a LeNet (2 convolutions, 3 dense layers) over one grayscale patch.

Small on purpose: blur is a local property of edges, a few thousand parameters of
convolution see it; the dense layers only weigh the evidence. The exported ``.tflite``
(float32) is 175 kB and scores some 10,000 patches a second on one AVX-512 core.
"""

from __future__ import annotations

import numpy as np

KERNEL = 5  # both convolutions' side
POOLS = (2, 4)  # the max-pool after each convolution


def build(patch_size: int, conv: tuple[int, int], dense: tuple[int, int]):
    """The Keras model, uncompiled.

    ``conv``: the filters of its two 5x5 convolutions; ``dense``: the units of its first two dense layers.
    """
    import tensorflow as tf

    keras = tf.keras
    inputs = keras.Input((patch_size, patch_size, 1), name="patch")
    x = keras.layers.Conv2D(conv[0], KERNEL, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(POOLS[0], name="pool1")(x)
    x = keras.layers.Conv2D(conv[1], KERNEL, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(POOLS[1], name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense[0], activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    x = keras.layers.Dense(dense[1], activation="relu", name="dense2")(x)
    outputs = keras.layers.Dense(1, name="sharp_logit")(x)  # a logit: blurwatch aggregates logits
    return keras.Model(inputs, outputs, name="blurwatch_lenet")


def reach(patch_size: int) -> int:
    """The side of the top-left square of a patch that the network's logit depends on.

    Valid convolutions and poolings drop what does not fill a window. Of a 64 px patch
    the first convolution leaves 60 px, pooling 30, the second convolution 26, and the
    last pooling reads 24 of those, which come from 28, 56 and, going back, 60 px of
    the patch: its last 4 rows and columns never reach the logit.
    """
    side = patch_size
    for pool in POOLS:
        side = (side - KERNEL + 1) // pool
    for pool in reversed(POOLS):
        side = side * pool + KERNEL - 1
    return side


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
    float on both CPU kinds measured. AVX-512: 8,500 patches/s against 7,700 with int8
    weights (dynamic-range), same run (bench/network.py, bench/README.md); AVX2, as
    issue #16 reports it for blurwatch 0.1's network: 2,350 against 1,500. A float network
    also gives the logits training measured, and a patch's logit cannot depend on its batch.

    The exported network takes only the part of a patch that reaches its logit
    (:func:`reach`: 60 of 64 px), the same weights on a smaller input: the same logits
    for 12% less work. blurwatch cuts each patch to the network's input side.
    """
    import tensorflow as tf

    layers = {layer.name: layer for layer in model.layers}
    trimmed = build(reach(model.input_shape[1]), (layers["conv1"].filters, layers["conv2"].filters),
                    (layers["dense1"].units, layers["dense2"].units))
    trimmed.set_weights(model.get_weights())
    data = tf.lite.TFLiteConverter.from_keras_model(trimmed).convert()
    path.write_bytes(data)
    return len(data)
