"""Evaluation on real labelled photos, with the Laplacian-variance baseline side by side.

    python -m training.evaluate --data ../shared/data            # cross-validated figures
    python -m training.evaluate --manifest other/manifest.csv    # shipped model on another set

Cross-validated mode reads the out-of-fold sharpness scores written by
``training.train`` (each photo scored by a model that never trained on it) and chooses
every threshold (blurwatch's and the baseline's) on the other folds only. With
``--manifest`` (or a folder whose sub-folders are labels) the shipped model and its
shipped thresholds are applied as they are: nothing is tuned on that set.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from blurwatch import decoding, exposure
from blurwatch.config import Config, DecodeConfig
from blurwatch.sharpness import SharpnessModel
from blurwatch.verdict import Thresholds, decide
from training import degrade, thresholds
from training.dataset import BLURRY_LABELS, SHARP_LABELS

EXPOSURE_LABELS = {"dark": "dark", "overexposed": "overexposed"}
# Photos at least this long count as full-resolution camera photos for the subtle-blur test.
CAMERA_LONG_SIDE = 1600


@dataclass
class Scored:
    path: str
    label: str
    fold: int
    sharpness: float
    laplacian: float
    exposure: exposure.Exposure
    full_size: tuple[int, int]


def laplacian_variance(gray: np.ndarray) -> float:
    """The peer method: variance of the Laplacian (here on blurwatch's working image)."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def roc(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC of "lower score = blurry": (false-positive rates, true-positive rates, AUC)."""
    cuts = np.unique(np.concatenate([positive, negative, [np.inf]]))
    tpr = np.array([(positive < c).mean() for c in cuts])
    fpr = np.array([(negative < c).mean() for c in cuts])
    # AUC as the chance that a blurry photo scores below a sharp one (ties count half).
    below = (positive[:, None] < negative[None, :]).mean() + 0.5 * (positive[:, None] == negative[None, :]).mean()
    return fpr, tpr, float(below)


def recall_at(positive: np.ndarray, negative: np.ndarray, max_fpr: float) -> float:
    """Share of blurry photos caught when at most ``max_fpr`` of sharp ones are rejected."""
    fpr, tpr, _ = roc(positive, negative)
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def sharpness_figures(rows: list[Scored], key: str, limits_by_fold: dict[int, dict]) -> dict:
    blurry = np.array([getattr(r, key) for r in rows if r.label in BLURRY_LABELS])
    sharp = np.array([getattr(r, key) for r in rows if r.label in SHARP_LABELS])
    _, _, auc = roc(blurry, sharp)
    out = {"auc": auc, "recall_at_5pct": recall_at(blurry, sharp, 0.05),
           "recall_at_2pct": recall_at(blurry, sharp, 0.02)}
    for label in SHARP_LABELS + BLURRY_LABELS:
        mine = [r for r in rows if r.label == label]
        rejected = [getattr(r, key) < limits_by_fold[r.fold]["reject_below"] for r in mine]
        kept = [getattr(r, key) >= limits_by_fold[r.fold]["keep_from"] for r in mine]
        out[label] = {"n": len(mine), "rejected": float(np.mean(rejected)), "kept": float(np.mean(kept))}
    return out


def cross_validated_limits(rows: list[Scored], key: str) -> dict[int, dict]:
    """For each fold, thresholds fitted on the other folds' scores only."""
    limits = {}
    for fold in sorted({r.fold for r in rows}):
        others = [{"label": r.label, "sharpness": getattr(r, key)} for r in rows if r.fold != fold]
        limits[fold] = thresholds.fit(others)
    return limits


def exposure_figures(rows: list[Scored], config: Config) -> dict:
    """blurwatch's exposure flags beside a mean-luminance rule tuned by cross-validation."""
    out = {}
    baseline_limits = _mean_rule_limits(rows)
    for name, flagged in (("blurwatch", lambda r: exposure.flags(r.exposure, config.exposure)),
                          ("mean_luminance_cv", lambda r: _mean_rule(r, baseline_limits[r.fold]))):
        figures = {}
        for label, reason in EXPOSURE_LABELS.items():
            mine = [r for r in rows if r.label == label]
            figures[f"{label}_caught"] = float(np.mean([reason in flagged(r) for r in mine]))
        good = [r for r in rows if r.label in SHARP_LABELS]
        figures["good_flagged"] = float(np.mean([bool(flagged(r)) for r in good]))
        out[name] = figures
    return out


def _mean_rule(row: Scored, limits: tuple[float, float]) -> tuple[str, ...]:
    dark, bright = limits
    return ("dark",) if row.exposure.mean_ev < dark else ("overexposed",) if row.exposure.mean_ev > bright else ()


def _mean_rule_limits(rows: list[Scored]) -> dict[int, tuple[float, float]]:
    """The plain rule's EV limits per fold: the best-separating cut on the other folds."""
    limits = {}
    for fold in sorted({r.fold for r in rows}):
        train = [r for r in rows if r.fold != fold]
        limits[fold] = (_best_cut(train, "dark", below=True), _best_cut(train, "overexposed", below=False))
    return limits


def _best_cut(rows: list[Scored], label: str, below: bool) -> float:
    ev = np.array([r.exposure.mean_ev for r in rows])
    target = np.array([r.label == label for r in rows])
    best, best_err = 0.0, np.inf
    for cut in np.unique(ev):
        flagged = ev < cut if below else ev > cut
        err = (flagged != target).sum()
        if err < best_err:
            best, best_err = float(cut), err
    return best


def subtle_blur(photos: list[tuple[Path, int]], models: dict[int, SharpnessModel], limits: dict[int, dict],
                lap_limits: dict[int, dict], seed: int = 7) -> dict:
    """Full-resolution camera photos blurred slightly, as a photographer sees at 100% view.

    Defocus radius 0.15% of the long side, camera shake 0.35%; each written as JPEG q95
    and decoded by blurwatch like any photo. The untouched originals, re-encoded alike,
    must be kept. The Laplacian baseline is judged on the same decoded images.
    """
    rng = np.random.default_rng(seed)
    caught: dict[str, dict[str, list[bool]]] = {m: {"defocus": [], "shake": [], "original": []}
                                                for m in ("blurwatch", "laplacian_variance")}
    with tempfile.TemporaryDirectory() as tmp:
        for path, fold in photos:
            full = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            long_side = max(full.shape)
            variants = {
                "original": full.astype(np.float32),
                "defocus": degrade.blur(full, degrade.defocus_kernel(0.0015 * long_side)),
                "shake": degrade.blur(full, degrade.shake_kernel(0.0035 * long_side, rng)),
            }
            for kind, image in variants.items():
                out = Path(tmp) / f"{kind}.jpg"
                cv2.imwrite(str(out), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
                gray = decoding.decode(out, DecodeConfig()).gray
                rejected = {
                    "blurwatch": models[fold].score(gray).score < limits[fold]["reject_below"],
                    "laplacian_variance": laplacian_variance(gray) < lap_limits[fold]["reject_below"],
                }
                for method, is_rejected in rejected.items():
                    caught[method][kind].append(not is_rejected if kind == "original" else is_rejected)
    return {method: {"n": len(photos), "defocus_caught": float(np.mean(c["defocus"])),
                     "shake_caught": float(np.mean(c["shake"])), "originals_kept": float(np.mean(c["original"]))}
            for method, c in caught.items()}


def score_rows(labelled: list[tuple[Path, str, int]], oof: dict[str, float] | None,
               model: SharpnessModel | None) -> list[Scored]:
    """Decode each photo once; sharpness from the out-of-fold table or the given model."""
    rows = []
    for path, label, fold in labelled:
        photo = decoding.decode(path, DecodeConfig())
        sharp = oof[str(path)] if oof is not None else model.score(photo.gray).score
        rows.append(Scored(str(path), label, fold, sharp, laplacian_variance(photo.gray),
                           exposure.measure(photo.gray), photo.full_size))
    return rows


def verdict_rates(rows: list[Scored], config: Config, limits: dict[int, dict]) -> dict:
    """What blurwatch's full verdict does to each label (reject / review / keep shares)."""
    out: dict[str, dict] = {}
    for label in sorted({r.label for r in rows}):
        decisions = [decide(r.sharpness, r.exposure, config, Thresholds(**limits[r.fold])).decision
                     for r in rows if r.label == label]
        out[label] = {d: decisions.count(d) / len(decisions) for d in ("reject", "review", "keep")}
        out[label]["n"] = len(decisions)
    return out


def read_labelled(source: Path) -> list[tuple[Path, str]]:
    """A manifest CSV (relpath,label,...) or a folder of label-named sub-folders."""
    if source.is_file():
        with open(source, newline="", encoding="utf-8") as fh:
            return [(source.parent / r["relpath"], r["label"]) for r in csv.DictReader(fh)]
    return [(p, p.parent.name) for p in sorted(source.glob("*/*")) if decoding.is_photo(p)]


def plot_roc(rows: list[Scored], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for key, name in (("sharpness", "blurwatch LeNet"), ("laplacian", "Laplacian variance")):
        blurry = np.array([getattr(r, key) for r in rows if r.label in BLURRY_LABELS])
        sharp = np.array([getattr(r, key) for r in rows if r.label in SHARP_LABELS])
        fpr, tpr, auc = roc(blurry, sharp)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.set_xlabel("sharp photos rejected")
    ax.set_ylabel("blurry photos caught")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def markdown_table(report: dict) -> str:
    """The evaluation as the model card's table: blurwatch beside its baselines."""
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    b, lap = report["blurwatch"], report["laplacian_variance"]
    lines = ["| figure | blurwatch | baseline |", "|---|---|---|",
             f"| ROC AUC, blurry vs sharp + shallow DoF | {b['auc']:.3f} | {lap['auc']:.3f} |",
             f"| blurry caught at 5% of sharp rejected | {pct(b['recall_at_5pct'])} | {pct(lap['recall_at_5pct'])} |",
             f"| blurry caught at 2% of sharp rejected | {pct(b['recall_at_2pct'])} | {pct(lap['recall_at_2pct'])} |"]
    for label in BLURRY_LABELS + SHARP_LABELS:
        lines.append(f"| {label} (n={b[label]['n']}): rejected as blurry | {pct(b[label]['rejected'])} "
                     f"| {pct(lap[label]['rejected'])} |")
    for label in SHARP_LABELS:
        lines.append(f"| {label}: kept outright (not even review) | {pct(b[label]['kept'])} "
                     f"| {pct(lap[label]['kept'])} |")
    if "subtle_blur" in report:
        ours, theirs = report["subtle_blur"]["blurwatch"], report["subtle_blur"]["laplacian_variance"]
        for key, name in (("defocus_caught", "defocus 0.15%"), ("shake_caught", "shake 0.35%"),
                          ("originals_kept", "untouched originals kept")):
            lines.append(f"| subtle blur (n={ours['n']}): {name} | {pct(ours[key])} | {pct(theirs[key])} |")
    ours, theirs = report["exposure"]["blurwatch"], report["exposure"]["mean_luminance_cv"]
    lines += [f"| dark caught as dark | {pct(ours['dark_caught'])} | {pct(theirs['dark_caught'])} |",
              f"| overexposed caught as overexposed | {pct(ours['overexposed_caught'])} "
              f"| {pct(theirs['overexposed_caught'])} |",
              f"| good photos flagged for exposure | {pct(ours['good_flagged'])} | {pct(theirs['good_flagged'])} |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("training/work"))
    parser.add_argument("--manifest", type=Path, help="evaluate the shipped model on this set instead")
    parser.add_argument("--out", type=Path, default=Path("training/work/evaluation.json"))
    parser.add_argument("--subtle", type=int, default=20, help="camera photos for the subtle-blur test")
    args = parser.parse_args(argv)
    config = Config()
    if args.manifest:
        model = SharpnessModel.load()
        labelled = [(p, label, 0) for p, label in read_labelled(args.manifest)]
        rows = score_rows(labelled, None, model)
        limits = {0: model.thresholds}
        lap_limits = {0: thresholds.fit([{"label": r.label, "sharpness": r.laplacian} for r in rows])}
        report = {"mode": "shipped model, shipped thresholds (Laplacian threshold fitted on this set: optimistic)"}
    else:
        oof_rows = json.loads((args.work / "oof_scores.json").read_text())
        oof = {r["path"]: r["sharpness"] for r in oof_rows}
        labelled = [(Path(r["path"]), r["label"], r["fold"]) for r in oof_rows]
        rows = score_rows(labelled, oof, None)
        limits = cross_validated_limits(rows, "sharpness")
        lap_limits = cross_validated_limits(rows, "laplacian")
        report = {"mode": "cross-validated: out-of-fold scores, thresholds fitted on other folds"}
    report["blurwatch"] = sharpness_figures(rows, "sharpness", limits)
    report["laplacian_variance"] = sharpness_figures(rows, "laplacian", lap_limits)
    report["exposure"] = exposure_figures(rows, config)
    report["verdicts"] = verdict_rates(rows, config, limits)
    if not args.manifest and args.subtle:
        camera = [(Path(r.path), r.fold) for r in rows
                  if r.label == "sharp" and max(r.full_size) >= CAMERA_LONG_SIDE]
        models = {f: SharpnessModel.load(args.work / f"fold{f}") for f in sorted({f for _, f in camera})}
        report["subtle_blur"] = subtle_blur(camera[: args.subtle], models, limits, lap_limits)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot_roc(rows, args.out.with_suffix(".roc.png"))
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
