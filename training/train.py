"""Rebuild blurwatch's models from scratch, with limits chosen on held-out photos.

    python -m training.train --data ../shared/data --out daemon/blurwatch/models/

1. The labelled photos (``photos/`` and ``more/``) are split into folds by source. For
   each fold a patch network is trained on everything else (plus ``train_sharp/``) and
   scores the held-out photos and blurred copies of them (:mod:`training.held_out`):
   every row is out-of-fold.
2. The exposure model is fitted per fold likewise (:mod:`training.exposure_model`);
   every labelled photo gets out-of-fold exposure probabilities.
3. The sharpness head (:mod:`training.head`) is fitted on the held-out rows, nested:
   each fold's rows are scored by a head fitted on the other folds' rows.
4. Reject and review limits for each fault are chosen on those out-of-fold
   probabilities (:mod:`training.thresholds`).
5. The shipped network, head and exposure model are fitted on all the data with the
   same recipe and written to ``--out`` with their limits and the cross-validated
   figures (``training.evaluate`` prints them in full).

Everything out-of-fold is kept in ``--work`` (``oof.json``) for ``training.evaluate``.
``--limits-only`` redoes step 4 alone from that file and rewrites the limits and the
report in the models in ``--out``: a change of the error budgets
(:data:`training.thresholds.BUDGETS`) takes seconds, not a retraining.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from blurwatch import exposure as exposure_lib
from blurwatch.sharpness import MODEL_NAME, PHOTO_FEATURES, PatchNetwork, PatchSpec
from training import data, evaluate, exposure_model, head, held_out, model, patches, thresholds
from training.data import BLURRY_LABELS, LabelledPhoto

log = logging.getLogger("training.train")


@dataclasses.dataclass(frozen=True)
class Recipe:
    seed: int = 20261124
    folds: int = 4
    epochs: int = 16
    variants: int = 5  # sharp and blurred variants per sharp source photo
    per_image: int = 32  # patches per variant
    conv: tuple[int, int] = (8, 16)  # filters of the two convolutions
    dense: tuple[int, int] = (64, 32)  # units of the first two dense layers
    spec: PatchSpec = PatchSpec()


def network_examples(data_dir: Path, photos: list[LabelledPhoto], recipe: Recipe, seed: int,
                     limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Patches from train_sharp and the given labelled photos (never a held-out fold's).

    ``limit`` keeps only that many sources of each kind (the CI smoke test trains on a handful).
    """
    sources = (data.train_sharp_photos(data_dir) + [p.path for p in photos if p.label == "sharp"])[:limit]
    real = [(p.path, 1.0) for p in photos if p.label == "sharp"]
    real += [(p.path, 0.0) for p in photos if p.label in BLURRY_LABELS]
    return patches.build(sources, real[:limit], recipe.spec, seed, recipe.variants, recipe.per_image)


def fit_network(x: np.ndarray, y: np.ndarray, recipe: Recipe, out: Path, seed: int) -> PatchNetwork:
    """Train on patches (x, y), export ``out`` as TFLite, and load it back as blurwatch does."""
    log.info("%s: %d patches (%.0f%% sharp)", out, len(x), 100 * y.mean())
    keras_model = model.train(x, y, recipe.spec.size, recipe.conv, recipe.dense, recipe.epochs, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.export_tflite(keras_model, out)
    return PatchNetwork(out, recipe.spec)


def held_out_rows(data_dir: Path, photos: list[LabelledPhoto], fold_of: list[int], recipe: Recipe,
                  work: Path) -> list[held_out.Row]:
    """Every labelled photo (and blurred copies of the good ones) scored by its own fold's network."""
    rows: list[held_out.Row] = []
    for fold in range(recipe.folds):
        training = [p for p, f in zip(photos, fold_of, strict=True) if f != fold]
        x, y = network_examples(data_dir, training, recipe, recipe.seed + fold)
        network = fit_network(x, y, recipe, work / f"fold{fold}" / f"{MODEL_NAME}.tflite", recipe.seed + fold)
        held = [i for i, f in enumerate(fold_of) if f == fold]
        rows += held_out.held_out_rows(photos, held, network, recipe.seed + fold)
    return rows


def oof_table(photos: list[LabelledPhoto], fold_of: list[int], rows: list[held_out.Row],
              sharp: list[float | None], exposure: np.ndarray) -> dict[str, Any]:
    """Everything out-of-fold, as ``training.evaluate`` reads it."""
    return {
        "photos": [{"path": str(p.path), "label": p.label, "source": p.source, "fold": f,
                    "dark": float(e[1]), "overexposed": float(e[2]),
                    "figures": exposure_lib.figures(exposure_lib.histogram(data.working_gray(p.path)))}
                   for p, f, e in zip(photos, fold_of, exposure, strict=True)],
        "rows": [{"photo": r.photo, "kind": r.kind, "sharpness": s, "note": r.note, "laplacian": r.laplacian,
                  "figures": r.figures} for r, s in zip(rows, sharp, strict=True)],
    }


def with_limits(oof: dict[str, Any], sharpness_meta: dict[str, Any], exposure_meta: dict[str, Any],
                network: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped models' metadata with each fault's limits, fitted on all out-of-fold
    probabilities, the nested cross-validated report, and the models' names."""
    table = evaluate.Table.from_json(oof)
    chosen = thresholds.fit_all(table.fault_samples())
    log.info("limits %s", chosen)
    sharpness_meta = {**sharpness_meta, "thresholds": evaluate.sharpness_limits(chosen["blurry"]),
                      "cross_validation": evaluate.cross_validated(table)}
    exposure_meta = {**exposure_meta, "thresholds": {reason: chosen[reason] for reason in ("dark", "overexposed")}}
    seed = sharpness_meta["recipe"]["seed"]
    return _named("lenet", seed, sharpness_meta, network), _named("logistic", seed, exposure_meta)


def _named(kind: str, seed: int, meta: dict[str, Any], *files: bytes) -> dict[str, Any]:
    """``meta`` with its ``version`` first: the recipe, the day it was trained and a digest of
    everything that decides verdicts (weights, head, limits). blurwatch judges a photo again
    when the name changes, so two different models, or one with other limits, never share
    one, and refitting with nothing new keeps it."""
    decisive = {key: value for key, value in meta.items() if key not in ("version", "data", "cross_validation")}
    digest = hashlib.sha256(json.dumps(decisive, sort_keys=True).encode() + b"".join(files)).hexdigest()[:8]
    trained = meta["data"]["created"][:10].replace("-", "")
    rest = {key: value for key, value in meta.items() if key != "version"}
    return {"version": f"{kind}-{trained}-s{seed}-{digest}", **rest}


def refit_limits(work: Path, models: Path) -> None:
    """Only the limits and the report, from the out-of-fold table a full run kept in ``work``."""
    oof = json.loads((work / "oof.json").read_text(encoding="utf-8"))
    paths = models / f"{MODEL_NAME}.json", models / f"{exposure_lib.MODEL_NAME}.json"
    sharpness_meta, exposure_meta = (json.loads(path.read_text(encoding="utf-8")) for path in paths)
    network = (models / f"{MODEL_NAME}.tflite").read_bytes()
    for path, content in zip(paths, with_limits(oof, sharpness_meta, exposure_meta, network), strict=True):
        _write_json(path, content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("daemon/blurwatch/models"))
    parser.add_argument("--work", type=Path, default=Path("training/work"))
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--folds", type=int, default=Recipe.folds)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--limits-only", action="store_true",
                        help="refit only the limits and the report from --work/oof.json into the models in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.limits_only:
        if not (args.work / "oof.json").is_file():
            parser.error(f"{args.work / 'oof.json'}: no out-of-fold table; a full run writes it")
        refit_limits(args.work, args.out)
        return 0
    recipe = Recipe(seed=args.seed, folds=args.folds, epochs=args.epochs)
    started = time.monotonic()
    photos = data.read_labelled(args.data)
    fold_of = data.source_folds(photos, recipe.folds, recipe.seed)
    extra_sharp = data.train_sharp_photos(args.data)

    rows = held_out_rows(args.data, photos, fold_of, recipe, args.work)
    exposure_rows = exposure_model.rows(photos, extra_sharp, recipe.seed)
    exposure_oof = exposure_model.out_of_fold(exposure_rows, fold_of, recipe.seed)
    sharp_oof = head.out_of_fold(rows, photos, fold_of, recipe.seed)
    oof = oof_table(photos, fold_of, rows, sharp_oof, exposure_oof)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "oof.json").write_text(json.dumps(oof), encoding="utf-8")

    x, y = network_examples(args.data, photos, recipe, recipe.seed)
    fit_network(x, y, recipe, args.out / f"{MODEL_NAME}.tflite", recipe.seed)
    summary = {"labelled_photos": len(photos), "sources": len({p.source for p in photos}), "folds": recipe.folds,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    sharpness_meta = {
        "patches": dataclasses.asdict(recipe.spec),
        "head": head.fit(rows, photos, recipe.seed),
        "recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k != "spec"},
        "data": summary,
    }
    all_rows = np.ones(len(exposure_rows.y), bool)
    exposure_meta = exposure_model.metadata(exposure_model.fit(exposure_rows, all_rows, recipe.seed), {"data": summary})
    sharpness_meta, exposure_meta = with_limits(oof, sharpness_meta, exposure_meta,
                                                (args.out / f"{MODEL_NAME}.tflite").read_bytes())
    _write_json(args.out / f"{MODEL_NAME}.json", sharpness_meta)
    _write_json(args.out / f"{exposure_lib.MODEL_NAME}.json", exposure_meta)
    log.info("done in %.0f s: %s (head inputs %s)", time.monotonic() - started, args.out, ", ".join(PHOTO_FEATURES))
    return 0


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
