"""Rebuild the shipped sharpness model from scratch, with cross-validated thresholds.

    python -m training.train --data ../shared/data --out daemon/blurwatch/models/

1. The labelled photos are split into folds (scenes kept together). For each fold a
   model is trained on everything else and scores the held-out photos: every photo
   gets an out-of-fold score from a model that never saw it.
2. Thresholds are chosen on those out-of-fold scores (see :mod:`training.thresholds`).
3. The shipped model is trained on all the data with the same recipe, and written as
   ``sharpness.tflite`` with ``sharpness.json`` (patch spec, thresholds, data summary,
   cross-validated figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import time
from pathlib import Path

import numpy as np

from blurwatch.sharpness import MODEL_NAME, PatchSpec, SharpnessModel
from training import dataset, model, thresholds
from training.dataset import BLURRY_LABELS, LabelledPhoto

log = logging.getLogger("training.train")

SHARPNESS_LABELS = dataset.SHARP_LABELS + BLURRY_LABELS


@dataclasses.dataclass(frozen=True)
class Recipe:
    seed: int = 20261124
    folds: int = 3
    epochs: int = 24
    variants: int = 5
    per_image: int = 32
    spec: PatchSpec = PatchSpec()
    # Real blurry photos of the training folds join the synthetic examples.
    use_real_blurry: bool = True


def training_set(data: Path, photos: list[LabelledPhoto], recipe: Recipe, seed: int,
                 limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Patches from train_sharp and the given labelled photos (never the held-out fold).

    ``limit`` keeps only that many sharp sources (the CI smoke test trains on a handful).
    """
    sources = (dataset.train_sharp_photos(data) + [p.path for p in photos if p.label == "sharp"])[:limit]
    real = [(p.path, 1.0) for p in photos if p.label == "sharp"]
    if recipe.use_real_blurry:
        real += [(p.path, 0.0) for p in photos if p.label in BLURRY_LABELS]
    return dataset.build(sources, real[:limit], recipe.spec, seed, recipe.variants, recipe.per_image)


def fit_and_export(x: np.ndarray, y: np.ndarray, recipe: Recipe, out_dir: Path, seed: int,
                   metadata: dict) -> SharpnessModel:
    """Train on patches (x, y), export to ``out_dir``, and load it back as blurwatch does."""
    started = time.monotonic()
    log.info("%s: %d patches (%.0f%% sharp)", out_dir, len(x), 100 * y.mean())
    keras_model = model.train(x, y, recipe.spec.size, recipe.epochs, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = model.export_tflite(keras_model, out_dir / f"{MODEL_NAME}.tflite")
    metadata = {**metadata, "patches": dataclasses.asdict(recipe.spec), "tflite_bytes": size,
                "training_patches": int(len(x)), "training_seconds": round(time.monotonic() - started)}
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return SharpnessModel.load(out_dir)


def out_of_fold_scores(data: Path, recipe: Recipe, work: Path) -> list[dict]:
    """Every labelled photo scored by the fold model that did not train on it."""
    photos = dataset.read_manifest(data)
    fold_of = dataset.folds(photos, recipe.folds, recipe.seed)
    rows = []
    for fold in range(recipe.folds):
        train_photos = [p for p, f in zip(photos, fold_of, strict=True) if f != fold and p.label in SHARPNESS_LABELS]
        # A fold model only scores its held-out photos; thresholds come from all of them later.
        fold_metadata = {"version": f"cv-fold-{fold}", "thresholds": {"reject_below": 0.5, "keep_from": 0.5}}
        x, y = training_set(data, train_photos, recipe, recipe.seed + fold)
        fold_model = fit_and_export(x, y, recipe, work / f"fold{fold}", recipe.seed + fold, fold_metadata)
        for photo, f in zip(photos, fold_of, strict=True):
            if f == fold:
                gray = dataset.working_gray(photo.path)
                rows.append({"path": str(photo.path), "label": photo.label, "fold": fold,
                             "sharpness": fold_model.score(gray).score})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("daemon/blurwatch/models"))
    parser.add_argument("--work", type=Path, default=Path("training/work"))
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--folds", type=int, default=Recipe.folds)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = Recipe(seed=args.seed, folds=args.folds, epochs=args.epochs)
    started = time.monotonic()

    oof = out_of_fold_scores(args.data, recipe, args.work)
    (args.work / "oof_scores.json").write_text(json.dumps(oof, indent=1), encoding="utf-8")
    chosen = thresholds.choose(oof)
    log.info("thresholds %s", chosen)

    photos = [p for p in dataset.read_manifest(args.data) if p.label in SHARPNESS_LABELS]
    metadata = {
        "version": f"lenet-{datetime.date.today():%Y%m%d}-s{recipe.seed}-int8",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": {"shape": [None, recipe.spec.size, recipe.spec.size, 1], "dtype": "float32",
                  "normalisation": "per patch: (x/255 - mean) / std; patches with std < flat_std skipped"},
        "thresholds": chosen["thresholds"],
        "cross_validation": chosen["report"],
        "data": {"sharp_sources": "shared/data/train_sharp (CBSD68, CSet14) + photos/sharp",
                 "real_blurry": "photos/blurry_natural, photos/blurry_lab (training folds only)",
                 "labelled_photos": len(photos)},
        "recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k != "spec"},
    }
    x, y = training_set(args.data, photos, recipe, recipe.seed)
    fit_and_export(x, y, recipe, args.out, recipe.seed, metadata)
    log.info("done in %.0f s: %s", time.monotonic() - started, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
