"""Sharpness: the shipped LeNet scores textured patches; the sharpest regions decide.

:class:`SharpnessModel` is the one owner of the ``.tflite`` file and of the
preprocessing constants written beside it by ``training/``. The patch functions here
are imported by training too, so the network sees the same patches in both places.

Why "the sharpest regions decide": a photo is sharp when its subject is sharp. A
portrait on a deliberately defocused background has few sharp patches and many soft
ones; averaging would call it blurry. Camera shake and missed focus leave *no* patch
sharp, so the top of the patch distribution separates the two.

From the patch logits a few photo figures are taken (:data:`PHOTO_FEATURES`: the
best patches' mean, the very best few, how far those stand above the median patch,
how alike the best patches' edge directions are, how much textured evidence there
is), and a logistic head fitted on held-out real photos turns them into the photo's
score, a calibrated probability of being sharp. A photo with too few textured
patches gets no sharpness score at all: with nothing to judge by, blurwatch says so
instead of guessing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from blurwatch.logistic import Logistic

MODEL_NAME = "sharpness"
# Patches per network call: 16 runs as fast as larger batches while its activations
# (4 MB) stay in cache, and keeps each worker about 18 MB smaller than 64 did.
BATCH = 16


@dataclass(frozen=True)
class PatchSpec:
    """How patches are cut and normalised; saved in the model's JSON by training."""

    size: int = 64
    flat_std: float = 0.06  # patches with a std (0..1 scale) below this carry no evidence
    max_patches: int = 256  # the most textured cells are scored, at most this many
    top_k_fraction: float = 0.25  # "the best patches": this fraction of them ...
    top_k_min: int = 3  # ... but at least this many
    min_evidence: int = 3  # fewer textured patches than this: no sharpness score


@dataclass(frozen=True)
class Patches:
    """Normalised patches of one image and the grid cells they came from."""

    data: np.ndarray  # (N, size, size, 1) float32, zero mean and unit std per patch
    cells: np.ndarray  # (N, 2) int: (row, col) in the grid
    grid: tuple[int, int]  # (rows, cols)
    origin: tuple[int, int]  # (top, left) pixel of the grid's first cell


# Why a photo has no sharpness score: smaller than a few patches, or (large enough but)
# with almost nothing textured in it, a clear sky or a smooth backdrop.
TOO_SMALL = "too_small"
NO_DETAIL = "no_detail"
# The photo figures the logistic head may use (its JSON lists those it does).
PHOTO_FEATURES = ("top_mean", "top3", "subject", "coherence", "evidence")


@dataclass(frozen=True)
class Sharpness:
    score: float | None  # 0 = blurry, 1 = sharp; None when there is too little to judge by
    map: np.ndarray = field(repr=False)  # (rows, cols) float32 patch scores, NaN where flat
    patches: int  # how many textured patches were scored
    note: str | None = None  # TOO_SMALL or NO_DETAIL when score is None
    # The log-odds behind score: it does not saturate near 1, so it still orders the sharp
    # frames of one burst (0.999 and 0.9995 differ by 0.7 here).
    log_odds: float | None = None

    def shown(self, digits: int = 3) -> str:
        """The score for people: "0.873", or "none (too_small)" when there is none."""
        return f"none ({self.note})" if self.score is None else f"{self.score:.{digits}f}"


def extract_patches(gray: np.ndarray, spec: PatchSpec) -> Patches:
    """Cut ``gray`` (2-D uint8) into a grid of patches and keep the textured ones.

    The grid is centred; cells whose standard deviation is below ``spec.flat_std`` are
    dropped (sky, walls, out-of-focus background carry no evidence of focus), and of the
    rest the ``spec.max_patches`` with the most gradient energy are kept.
    """
    size = spec.size
    rows, cols = gray.shape[0] // size, gray.shape[1] // size
    if rows == 0 or cols == 0:
        return Patches(np.zeros((0, size, size, 1), np.float32), np.zeros((0, 2), int), (rows, cols), (0, 0))
    top = (gray.shape[0] - rows * size) // 2
    left = (gray.shape[1] - cols * size) // 2
    block = gray[top : top + rows * size, left : left + cols * size]
    # Scaled and cut into cells in one pass (bench/README.md: half the time and memory of two).
    cells = np.empty((rows * cols, size, size), np.float32)
    np.multiply(block.reshape(rows, size, cols, size).swapaxes(1, 2), np.float32(1.0 / 255.0),
                out=cells.reshape(rows, cols, size, size))
    std = cells.std(axis=(1, 2))
    textured = np.flatnonzero(std >= spec.flat_std)
    if len(textured) > spec.max_patches:
        energy = np.concatenate([_gradient_energy(cells[textured[i : i + BATCH]])
                                 for i in range(0, len(textured), BATCH)])  # a batch at a time: bounded memory
        energy /= std[textured] ** 2
        textured = np.sort(textured[np.argsort(-energy, kind="stable")[: spec.max_patches]])
    chosen = cells[textured]
    mean = chosen.mean(axis=(1, 2), keepdims=True)
    data = (chosen - mean) / std[textured][:, None, None]
    coords = np.stack([textured // cols, textured % cols], axis=1)
    return Patches(data[..., None], coords, (rows, cols), (top, left))


def motion_coherence(patches: np.ndarray) -> float:
    """How much the patches' gradients share one direction: 0 = none, 1 = all alike.

    The coherence of the summed structure tensor (gradients over 2 px). A sharp scene's
    best patches hold edges of several directions, even a facade of verticals and
    horizontals; linear camera shake or a panning blur leaves only the edges along the
    motion, all alike.
    """
    if len(patches) == 0:
        return 0.0
    p = patches[..., 0].astype(np.float64)
    gx = p[:, :-2, 2:] - p[:, :-2, :-2]
    gy = p[:, 2:, :-2] - p[:, :-2, :-2]
    xx, yy, xy = (gx * gx).mean(), (gy * gy).mean(), (gx * gy).mean()
    spread = np.hypot(xx - yy, 2 * xy)
    return float(spread / (xx + yy + 1e-12))


def evidence_note(patches: Patches, spec: PatchSpec) -> str | None:
    """Why a photo's textured patches are too few to judge it by, or None when they suffice."""
    if len(patches.data) >= spec.min_evidence:
        return None
    return TOO_SMALL if patches.grid[0] * patches.grid[1] < spec.min_evidence else NO_DETAIL


def photo_features(logits: np.ndarray, patches: np.ndarray, spec: PatchSpec) -> dict[str, float]:
    """The photo figures (:data:`PHOTO_FEATURES`) from its patches' logits and pixels.

    Logits rather than probabilities, so that "very sure" patches do not saturate.
    ``subject`` is how far the best three stand above the median patch: a sharp subject
    before a soft background stands far above it, a shaken frame's best patches hardly
    do. (It replaced the median itself: the same information, but the regularised head
    weighs the contrast better; cross-validated, 4 points more bad photos caught at
    the same good photos rejected.)
    """
    order = np.argsort(-logits, kind="stable")
    best = order[: max(spec.top_k_min, int(round(spec.top_k_fraction * logits.size)))]
    return {
        "top_mean": float(logits[best].mean()),
        "top3": float(logits[order[:3]].mean()),
        "subject": float(logits[order[:3]].mean() - np.median(logits)),
        "coherence": motion_coherence(patches[best]),
        "evidence": float(np.log(logits.size)),
    }


def encode_map(grid: np.ndarray) -> str:
    """A compact text form of a sharpness map for sidecars: digits 0-9, '-' for flat, rows split by '/'."""
    rows = []
    for row in grid:
        rows.append("".join("-" if np.isnan(v) else str(int(round(float(v) * 9))) for v in row))
    return "/".join(rows)


def decode_map(text: str) -> np.ndarray:
    """Inverse of :func:`encode_map` (to the nearest tenth)."""
    rows = [[np.nan if ch == "-" else int(ch) / 9 for ch in row] for row in text.split("/") if row]
    return np.array(rows, dtype=np.float32)


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _gradient_energy(cells: np.ndarray) -> np.ndarray:
    dx = np.diff(cells, axis=2)
    dy = np.diff(cells, axis=1)
    return (dx * dx).mean(axis=(1, 2)) + (dy * dy).mean(axis=(1, 2))


def _interpreter_class() -> Any:
    """LiteRT's interpreter, or the older tflite_runtime where only that is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    return Interpreter


def default_model_dir() -> Path:
    return Path(str(resources.files("blurwatch") / "models"))


class PatchNetwork:
    """The LeNet that scores patches: the ``.tflite`` file and the patch spec it was trained on.

    The interpreter is created on first use, so reading a model's metadata costs nothing.
    """

    def __init__(self, model_path: Path, spec: PatchSpec, num_threads: int = 1) -> None:
        self.model_path = model_path
        self.spec = spec
        self._num_threads = num_threads
        self._lock = threading.Lock()
        self._interpreter: Any = None

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """Per-patch logit of being sharp (> 0: sharp), for (N, size, size, 1) float32 patches.

        The network file may take less than a whole patch: the part its valid
        convolutions and poolings never reach (the last 4 px of a 64 px patch) is left
        out at export (``training.model.reach``), for 12% less work and the same
        logits, so each patch is cut here to the network's input side.
        """
        if len(patches) == 0:
            return np.zeros(0, np.float32)
        with self._lock:
            interpreter = self._ready_interpreter()
            index = interpreter.get_input_details()[0]["index"]
            output = interpreter.get_output_details()[0]["index"]
            side = interpreter.get_input_details()[0]["shape"][1]
            results = []
            for start in range(0, len(patches), BATCH):
                batch = np.ascontiguousarray(patches[start : start + BATCH, :side, :side])
                if interpreter.get_input_details()[0]["shape"][0] != len(batch):
                    interpreter.resize_tensor_input(index, batch.shape)
                    interpreter.allocate_tensors()
                interpreter.set_tensor(index, batch)
                interpreter.invoke()
                results.append(interpreter.get_tensor(output).reshape(-1).copy())
            return np.concatenate(results)

    def _ready_interpreter(self) -> Any:
        if self._interpreter is None:
            interpreter = _interpreter_class()(model_path=str(self.model_path), num_threads=self._num_threads)
            with _native_stderr_silenced():
                interpreter.allocate_tensors()
            self._interpreter = interpreter
        return self._interpreter


class SharpnessModel:
    """The shipped sharpness judgement: the patch network, the photo head and their limits."""

    def __init__(self, network: PatchNetwork, metadata: dict[str, Any]) -> None:
        self.network = network
        self.spec = network.spec
        self.metadata = metadata
        self.version: str = metadata["version"]
        self.head = Logistic.from_dict(metadata["head"], PHOTO_FEATURES)
        # {"reject_below": score, "keep_from": score}, fitted on held-out photos
        self.thresholds: dict[str, float] = metadata["thresholds"]

    @classmethod
    def load(cls, model_dir: Path | None = None, num_threads: int = 1) -> SharpnessModel:
        """Read ``sharpness.json`` and remember ``sharpness.tflite`` from ``model_dir``."""
        model_dir = model_dir or default_model_dir()
        metadata = json.loads((model_dir / f"{MODEL_NAME}.json").read_text(encoding="utf-8"))
        network = PatchNetwork(model_dir / f"{MODEL_NAME}.tflite", PatchSpec(**metadata["patches"]), num_threads)
        return cls(network, metadata)

    def score(self, gray: np.ndarray) -> Sharpness:
        """Score a grayscale working image: the photo score and its coarse map."""
        return self.score_patches(self.patches(gray))

    def patches(self, gray: np.ndarray) -> Patches:
        """The patches of a grayscale working image the network scores."""
        return extract_patches(gray, self.spec)

    def score_patches(self, patches: Patches) -> Sharpness:
        """The photo's score and coarse map from its :meth:`patches`."""
        logits = self.network.predict(patches.data)
        grid = np.full(patches.grid, np.nan, np.float32)
        grid[patches.cells[:, 0], patches.cells[:, 1]] = _sigmoid(logits)
        note = evidence_note(patches, self.spec)
        if note:
            return Sharpness(None, _coarse(grid), int(len(logits)), note)
        log_odds = float(self.head.logits(photo_features(logits, patches.data, self.spec))[1])
        return Sharpness(float(_sigmoid(log_odds)), _coarse(grid), int(len(logits)), log_odds=log_odds)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide what C++ code prints straight to file descriptor 2 meanwhile.

    LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when it
    first allocates, with no switch to turn it off: a line of noise per worker on every
    run. Its errors still arrive, as the Python exception's message.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


MAP_MAX_CELLS = 16


def _coarse(grid: np.ndarray) -> np.ndarray:
    """Shrink a patch grid to at most 16 cells a side by max-pooling (NaN-aware)."""
    rows, cols = grid.shape
    factor = max(1, int(np.ceil(max(rows, cols) / MAP_MAX_CELLS)))
    if factor == 1:
        return grid
    out_r, out_c = -(-rows // factor), -(-cols // factor)
    padded = np.full((out_r * factor, out_c * factor), np.nan, np.float32)
    padded[:rows, :cols] = grid
    blocks = padded.reshape(out_r, factor, out_c, factor).transpose(0, 2, 1, 3).reshape(out_r, out_c, -1)
    with np.errstate(all="ignore"):
        finite = np.isfinite(blocks).any(axis=2)
        pooled = np.where(finite, np.nanmax(np.where(np.isfinite(blocks), blocks, -1), axis=2), np.nan)
    return pooled.astype(np.float32)

