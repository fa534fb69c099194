"""Evaluation in the photographer's terms, cross-validated by source, beside the baselines.

    python -m training.evaluate                                 # cross-validated, from training/work/oof.json
    python -m training.evaluate --manifest OTHER/manifest.csv   # the shipped models on another labelled set

Cross-validated mode reads what ``training.train`` kept: every photo's out-of-fold
sharpness score and exposure probabilities. Each fold's limits are fitted on the other
folds only (nested), then blurwatch's own :func:`blurwatch.verdict.decide` judges the
held-out photos, exactly as it judges a photographer's. The baseline gets the same
treatment and the same error budgets: the variance of the Laplacian for blur (the
usual script), the mean luminance for exposure. blurwatch 0.1's exposure rules stand
beside the exposure model too.

With ``--manifest`` (or a folder whose sub-folders are labels) the shipped models and
their shipped limits are applied as they are: nothing is tuned on that set. Its sharp
camera photos of 1600 px or more also get the subtle-blur companion.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from blurwatch import decoding, verdict
from blurwatch.config import Config, DecodeConfig
from blurwatch.exposure import Exposure
from blurwatch.pipeline import Models, judge
from blurwatch.sharpness import Sharpness
from training import degrade, held_out, thresholds
from training.data import BLURRY_LABELS, GOOD_LABELS

# Bad photos by what they should be rejected for; subtle blur is a kind of row, not a label.
RIGHT_REASON = {"blurry_natural": "blurry", "blurry_multiframe": "blurry", "blurry_lab": "blurry",
                "subtle_blur": "blurry", "dark": "dark", "overexposed": "overexposed"}
SUBTLE_KINDS = ("subtle_defocus", "subtle_shake")
EXPOSURE_REASONS = frozenset({"dark", "overexposed"})
SWEEP = (-1.0, -0.5, 0.0, 0.5, 1.0)
_NO_MAP = np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class Judged:
    """One judged image: a labelled photo or a blurred copy of one, and what became of it."""

    label: str  # the labelled photo's label; "subtle_blur" / "camera_original" for the subtle copies
    source: str
    decision: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """What ``training.train`` kept out-of-fold (``oof.json``)."""

    photos: list[dict[str, Any]]
    rows: list[dict[str, Any]]

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> Table:
        return cls(content["photos"], content["rows"])

    def folds(self) -> list[int]:
        return sorted({p["fold"] for p in self.photos})

    def fault_samples(self, use: Callable[[int], bool] = lambda fold: True,
                      scores: Callable[[dict[str, Any]], float | None] | None = None,
                      exposure_key: Callable[[dict[str, Any], str], float] | None = None,
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(good, faulty) probabilities per fault, over photos whose fold passes ``use``.

        Blur's faulty set is the real blurry photos plus the subtle training copies;
        ``scores`` and ``exposure_key`` swap in a baseline's figures.
        """
        scores = scores or (lambda row: row["sharpness"])
        exposure_key = exposure_key or (lambda photo, reason: photo[reason])
        good_blur, bad_blur = [], []
        for row in self.rows:
            photo = self.photos[row["photo"]]
            score = scores(row)
            if score is None or not use(photo["fold"]):
                continue
            if row["kind"] == "real" and photo["label"] in GOOD_LABELS:
                good_blur.append(1.0 - score)
            elif (row["kind"] == "real" and photo["label"] in BLURRY_LABELS) or row["kind"].startswith("subtle_train"):
                bad_blur.append(1.0 - score)
        samples = {"blurry": (np.array(good_blur), np.array(bad_blur))}
        for reason in ("dark", "overexposed"):
            chosen = [p for p in self.photos if use(p["fold"])]
            samples[reason] = (np.array([exposure_key(p, reason) for p in chosen if p["label"] in GOOD_LABELS]),
                               np.array([exposure_key(p, reason) for p in chosen if p["label"] == reason]))
        return samples


def sharpness_limits(blurry: dict[str, float]) -> dict[str, float]:
    """Blur's limits on P(blurry) as limits on the sharpness score (1 = sharp)."""
    return {"reject_below": round(1.0 - blurry["reject_at"], 4), "keep_from": round(1.0 - blurry["review_at"], 4)}


def _thresholds(limits: dict[str, dict[str, float]]) -> verdict.Thresholds:
    sharp = sharpness_limits(limits["blurry"])
    return verdict.Thresholds(sharp["reject_below"], sharp["keep_from"], verdict.Limits(**limits["dark"]),
                              verdict.Limits(**limits["overexposed"]))


def _exposure(photo: dict[str, Any], dark: float, overexposed: float) -> Exposure:
    return Exposure(**photo["figures"], dark=dark, overexposed=overexposed)


def judge_table(table: Table, sensitivity: float = 0.0, baseline: bool = False) -> list[Judged]:
    """Every held-out photo (and subtle copy) judged with limits fitted on the other folds."""
    scores, exposure_key = (_laplacian_score, _mean_luminance) if baseline else (None, None)
    judged = []
    for fold in table.folds():
        fitted = thresholds.fit_all(table.fault_samples(lambda f, fold=fold: f != fold, scores, exposure_key))
        limits = _thresholds(fitted).shifted(sensitivity)
        for row in table.rows:
            photo = table.photos[row["photo"]]
            if photo["fold"] != fold or not (row["kind"] == "real" or row["kind"] in SUBTLE_KINDS
                                             or row["kind"] == "subtle_original"):
                continue
            score = (scores or (lambda r: r["sharpness"]))(row)
            reason_p = {r: (exposure_key or (lambda p, k: p[k]))(photo, r) for r in ("dark", "overexposed")}
            decided = verdict.decide(Sharpness(score, _NO_MAP, 0, row["note"]),
                                     _exposure(photo, reason_p["dark"], reason_p["overexposed"]), limits)
            label = {"real": photo["label"], "subtle_original": "camera_original"}.get(row["kind"], "subtle_blur")
            judged.append(Judged(label, photo["source"], decided.decision, decided.reasons))
    return judged


def _laplacian_score(row: dict[str, Any]) -> float:
    """The baseline's Laplacian variance squashed into 0..1 (monotone: only the order counts)."""
    return float(row["laplacian"] / (row["laplacian"] + 100.0))


def _mean_luminance(photo: dict[str, Any], reason: str) -> float:
    """The baseline's exposure "probability": the mean EV squashed into 0..1, darker or brighter."""
    ev = photo["figures"]["mean_ev"]
    return float(1.0 / (1.0 + np.exp(2.0 * ev if reason == "dark" else -2.0 * ev)))


def hand_rules_0_1(figures: dict[str, Any]) -> tuple[str, ...]:
    """blurwatch 0.1's exposure rules, for comparison (its defaults)."""
    reasons = []
    if (figures["mean_ev"] < -1.5 and figures["highlights"] < 250) or figures["mean_ev"] < -3.0:
        reasons.append("dark")
    if figures["mean_ev"] >= 1.2 and (figures["clipped"] >= 0.05 or figures["shadows"] >= 40):
        reasons.append("overexposed")
    return tuple(reasons)


def photographer_figures(judged: Iterable[Judged]) -> dict[str, Any]:
    """The issue's table: what the photographer gets, as shares."""
    items = list(judged)
    good = [j for j in items if j.label in GOOD_LABELS]
    bad = [j for j in items if j.label in RIGHT_REASON]
    def caught(j: Judged) -> bool:
        return j.decision == "reject" and RIGHT_REASON[j.label] in j.reasons

    out: dict[str, Any] = {
        "n_good": len(good), "n_bad": len(bad),
        "good_rejected": _share(good, lambda j: j.decision == "reject"),
        "good_review": _share(good, lambda j: j.decision == "review"),
        "sharp_review": _share([j for j in good if j.label == "sharp"], lambda j: j.decision == "review"),
        "bokeh_review": _share([j for j in good if j.label == "bokeh_sharp"], lambda j: j.decision == "review"),
        "bokeh_kept": _share([j for j in good if j.label == "bokeh_sharp"], lambda j: j.decision == "keep"),
        "good_rejected_exposure": _share(good, _rejected_for_exposure),
        "bad_caught": _share(bad, caught),
        "bad_review": _share(bad, lambda j: j.decision == "review"),
        "bad_kept": _share(bad, lambda j: j.decision == "keep"),
        "camera_originals_kept": _share([j for j in items if j.label == "camera_original"],
                                        lambda j: j.decision == "keep"),
    }
    for label in RIGHT_REASON:
        group = [j for j in bad if j.label == label]
        out[f"{label}_caught"] = _share(group, caught)
        out[f"n_{label}"] = len(group)
    return out


def per_source(judged: Iterable[Judged]) -> dict[str, dict[str, Any]]:
    """The figures for each source on its own: the spread a new camera may see."""
    by_source: dict[str, list[Judged]] = defaultdict(list)
    for j in judged:
        by_source[j.source].append(j)
    return {source: photographer_figures(items) for source, items in sorted(by_source.items())}


def exposure_comparison(table: Table) -> dict[str, dict[str, float]]:
    """Exposure alone: the model (nested limits) beside blurwatch 0.1's rules and the mean-luminance rule."""
    out = {}
    for name, baseline in (("model", False), ("mean_luminance", True)):
        judged = judge_table(table, baseline=baseline)
        real = [j for j in judged if j.label in GOOD_LABELS or j.label in ("dark", "overexposed")]
        out[name] = _exposure_rates(real)
    out["hand_rules_0.1"] = _exposure_rates([
        Judged(p["label"], p["source"], "reject" if hand_rules_0_1(p["figures"]) else "keep",
               hand_rules_0_1(p["figures"]))
        for p in table.photos if p["label"] in GOOD_LABELS + ("dark", "overexposed")])
    return out


def _exposure_rates(judged: list[Judged]) -> dict[str, float]:
    good = [j for j in judged if j.label in GOOD_LABELS]
    out = {"good_rejected": _share(good, _rejected_for_exposure),
           "good_flagged": _share(good, lambda j: bool(EXPOSURE_REASONS & set(j.reasons)))}
    for reason in sorted(EXPOSURE_REASONS):  # a set: sorted, so reports come out the same every run
        mine = [j for j in judged if j.label == reason]
        out[f"{reason}_caught"] = _share(mine, lambda j, r=reason: j.decision == "reject" and r in j.reasons)
    return out


def _rejected_for_exposure(judged: Judged) -> bool:
    return judged.decision == "reject" and bool(EXPOSURE_REASONS & set(judged.reasons))


def _share(group: list[Judged], test: Callable[[Judged], bool]) -> float:
    """The share of ``group`` passing ``test``; NaN (shown as a dash) for an empty group."""
    return float(np.mean([test(j) for j in group])) if group else float("nan")


def cross_validated(table: Table) -> dict[str, Any]:
    """The whole cross-validated report (also stored in the shipped model's JSON)."""
    judged = judge_table(table)
    return {
        "mode": "cross-validated by source: out-of-fold scores, limits fitted on the other folds",
        "blurwatch": photographer_figures(judged),
        "baseline": photographer_figures(judge_table(table, baseline=True)),
        "per_source": per_source(judged),
        "exposure": exposure_comparison(table),
        "sensitivity": {f"{s:+.1f}": photographer_figures(judge_table(table, sensitivity=s)) for s in SWEEP},
    }


def on_manifest(source: Path, models: Models, config: Config) -> dict[str, Any]:
    """The shipped models and limits, as they are, on another labelled set."""
    judged = []
    for path, label, origin in read_labelled(source):
        photo = decoding.decode(path, config.decode)
        result = judge(photo, config, models)
        judged.append(Judged(label, origin, result.verdict.decision, result.verdict.reasons))
        if label == "sharp" and max(photo.full_size) >= held_out.CAMERA_LONG_SIDE:
            judged += _subtle_judged(path, origin, models, config)
    return {"mode": "shipped models and limits, nothing tuned on this set",
            "blurwatch": photographer_figures(judged), "per_source": per_source(judged)}


def _subtle_judged(path: Path, origin: str, models: Models, config: Config) -> list[Judged]:
    full = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    long_side = max(full.shape)
    rng = np.random.default_rng(7)
    variants = {"camera_original": full.astype(np.float32),
                "subtle_blur": degrade.blur(full, degrade.defocus_kernel(held_out.SUBTLE_DEFOCUS * long_side)),
                "subtle_shake": degrade.blur(full, degrade.shake_kernel(held_out.SUBTLE_SHAKE * long_side, rng))}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, image in variants.items():
            target = Path(tmp) / "subtle.jpg"
            cv2.imwrite(str(target), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
            result = judge(decoding.decode(target, DecodeConfig()), config, models)
            label = "camera_original" if kind == "camera_original" else "subtle_blur"
            out.append(Judged(label, origin, result.verdict.decision, result.verdict.reasons))
    return out


def read_labelled(source: Path) -> list[tuple[Path, str, str]]:
    """(photo, label, source) from a manifest CSV (relpath, label, optional source_repo) or a folder of
    label-named sub-folders (whose photos share one source: the folder's name)."""
    if source.is_file():
        with open(source, newline="", encoding="utf-8") as fh:
            return [(source.parent / r["relpath"], r["label"], r.get("source_repo") or source.parent.name)
                    for r in csv.DictReader(fh)]
    return [(p, p.parent.name, source.name) for p in sorted(source.glob("*/*")) if decoding.is_photo(p)]


def markdown(report: dict[str, Any]) -> str:
    """The report as the model card's tables."""
    def pct(x: float) -> str:
        return "–" if x != x else f"{100 * x:.1f}%"

    ours, base = report["blurwatch"], report.get("baseline")
    rows = [("good photos rejected", "good_rejected"), ("good photos sent to review", "good_review"),
            ("— sharp sent to review", "sharp_review"), ("— shallow-DoF sent to review", "bokeh_review"),
            ("shallow-DoF photos kept outright", "bokeh_kept"),
            ("good photos rejected for exposure", "good_rejected_exposure"),
            ("bad photos rejected with the right reason", "bad_caught"),
            ("— natural camera shake / missed focus", "blurry_natural_caught"),
            ("— video-frame motion blur", "blurry_multiframe_caught"), ("— lab camera shake", "blurry_lab_caught"),
            ("— subtle full-resolution blur", "subtle_blur_caught"), ("— dark", "dark_caught"),
            ("— overexposed", "overexposed_caught"), ("bad photos sent to review", "bad_review"),
            ("bad photos kept outright", "bad_kept"),
            ("untouched camera photos kept (subtle-blur originals)", "camera_originals_kept")]
    head = "| what the photographer gets | blurwatch |" + (" Laplacian + mean luminance |" if base else "")
    lines = [f"{ours['n_good']} good and {ours['n_bad']} bad photos", "", head,
             "|---|---|" + ("---|" if base else "")]
    for name, key in rows:
        lines.append(f"| {name} | {pct(ours[key])} |" + (f" {pct(base[key])} |" if base else ""))
    if "exposure" in report:
        lines += ["", "| exposure alone | model | blurwatch 0.1 rules | mean luminance |", "|---|---|---|---|"]
        e = report["exposure"]
        for name, key in (("dark caught", "dark_caught"), ("overexposed caught", "overexposed_caught"),
                          ("good photos rejected for exposure", "good_rejected"),
                          ("good photos flagged (reject or review)", "good_flagged")):
            lines.append(f"| {name} | {pct(e['model'][key])} | {pct(e['hand_rules_0.1'][key])} "
                         f"| {pct(e['mean_luminance'][key])} |")
    lines += ["", "| source | good | rejected | review | bad | caught | kept |", "|---|---|---|---|---|---|---|"]
    for source, f in report["per_source"].items():
        lines.append(f"| {source} | {f['n_good']} | {pct(f['good_rejected'])} | {pct(f['good_review'])} "
                     f"| {f['n_bad']} | {pct(f['bad_caught'])} | {pct(f['bad_kept'])} |")
    if "sensitivity" in report:
        lines += ["", "| sensitivity | good rejected | good to review | bad caught | bad kept |",
                  "|---|---|---|---|---|"]
        for value, f in report["sensitivity"].items():
            lines.append(f"| {value} | {pct(f['good_rejected'])} | {pct(f['good_review'])} "
                         f"| {pct(f['bad_caught'])} | {pct(f['bad_kept'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("training/work"))
    parser.add_argument("--manifest", type=Path, help="evaluate the shipped models on this labelled set instead")
    parser.add_argument("--out", type=Path, default=Path("training/work/evaluation.json"))
    args = parser.parse_args(argv)
    if args.manifest:
        report = on_manifest(args.manifest, Models.load(), Config())
    else:
        report = cross_validated(Table.from_json(json.loads((args.work / "oof.json").read_text(encoding="utf-8"))))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
