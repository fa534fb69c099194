"""``blurwatch calibrate PATH...``: learn the user's sensitivity from photos they judged.

A photographer's own rejects (``xmp:Rating = -1``, as darktable and Lightroom write
them) against the photos they kept in the same folders say how strict they are. Every
photo is scored once; then the one ``sensitivity`` value that agrees best with the
person (balanced accuracy: rejects caught and keepers kept count alike) is written to
their config file. Ratings blurwatch wrote itself, and the 1 star darktable writes for
every photo it imports, are not judgements and are skipped (:func:`sidecar.set_by_hand`).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from blurwatch import config as config_mod
from blurwatch import discovery, files, sidecar, verdict
from blurwatch.commands.jobs import positive_int, run_jobs
from blurwatch.config import Config
from blurwatch.errors import UsageError
from blurwatch.job import Job
from blurwatch.pipeline import Models, PhotoResult
from blurwatch.workers import default_jobs

log = logging.getLogger(__name__)

# Fewer judged photos than this say more about chance than about taste.
MIN_JUDGED = 20
MIN_EACH = 3
CANDIDATES = np.round(np.linspace(-1.0, 1.0, 41), 2)


@dataclass(frozen=True)
class Judged:
    result: PhotoResult
    rejected: bool  # what the person decided


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "calibrate",
        help="learn your sensitivity from photos you already rejected or kept",
        description="Score photos you have already judged (rejected = rating -1, as darktable and "
        "Lightroom write it; anything else = kept), find the sensitivity that agrees best with "
        f"you, and write it to your config file. Needs at least {MIN_JUDGED} judged photos "
        f"with {MIN_EACH} or more of each kind.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos or folders you have judged")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    parser.add_argument("-j", "--jobs", type=positive_int, metavar="N",
                        help="worker processes (default: 'jobs' from the config, else one per CPU core)")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    groups, errors = discovery.find_jobs(args.paths)
    for line in errors:
        log.error("%s", line)
    judgements = _human_judgements(photo for group in groups for photo in group)
    _check_enough(judgements)
    judged = _score(judgements, config, args.jobs or default_jobs(config))
    _check_enough({j.result.path: j.rejected for j in judged})
    base = Models.load().thresholds(config.replace(sensitivity=0.0))
    best = choose_sensitivity(judged, base)
    print(_comparison(judged, config, base, best))
    if args.dry_run:
        return 0
    target = write_sensitivity(config, best)
    print(f"sensitivity {best:+.2f} written to {target}")
    return 0


def _human_judgements(photos: Iterable[Path]) -> dict[Path, bool]:
    """Photo -> rejected, for every photo whose rating a person set (not blurwatch, not darktable's default)."""
    out = {}
    for photo in photos:
        rating = sidecar.read_hand_rating(photo)
        if rating is not None:
            out[photo] = rating < 0
    return out


def _check_enough(judgements: dict[Path, bool]) -> None:
    rejected = sum(judgements.values())
    kept = len(judgements) - rejected
    if len(judgements) < MIN_JUDGED or rejected < MIN_EACH or kept < MIN_EACH:
        raise UsageError(
            f"calibrate needs at least {MIN_JUDGED} photos you rated, with {MIN_EACH} or more rejected "
            f"(rating -1) and kept; found {rejected} rejected and {kept} kept"
        )


def _score(judgements: dict[Path, bool], config: Config, jobs: int) -> list[Judged]:
    """Score every judged photo once, in the worker pool, writing nothing."""
    judged = []
    for outcome in run_jobs([Job((photo,), dry_run=True) for photo in judgements], config, jobs, progress=False):
        (photo,) = outcome.job.photos
        if outcome.result is None:
            log.error("%s", outcome.error_for(photo))
        else:
            judged.append(Judged(outcome.result, judgements[photo]))
    return judged


def choose_sensitivity(judged: list[Judged], base: verdict.Thresholds) -> float:
    """The sensitivity whose rejects agree best with the person's; ties go to the milder one."""
    truth = np.array([j.rejected for j in judged])

    def agreement(sensitivity: float) -> float:
        ours = _decisions(judged, base.shifted(sensitivity))
        return float((ours[truth].mean() + (~ours[~truth]).mean()) / 2)

    return float(max((agreement(float(s)), -abs(s), s) for s in CANDIDATES)[2])


def _decisions(judged: list[Judged], limits: verdict.Thresholds) -> np.ndarray:
    """Which photos blurwatch would reject under ``limits`` (True = reject)."""
    return np.array([verdict.decide(j.result.sharpness, j.result.exposure, limits).decision == "reject"
                     for j in judged])


def _comparison(judged: list[Judged], config: Config, base: verdict.Thresholds, best: float) -> str:
    truth = np.array([j.rejected for j in judged])
    lines = [f"{len(judged)} photos you judged: {truth.sum()} rejected, {(~truth).sum()} kept"]
    for name, value in (("now", config.sensitivity), ("calibrated", best)):
        ours = _decisions(judged, base.shifted(value))
        lines.append(f"  {name:<10} sensitivity {value:+.2f}: rejects {ours[truth].mean():.0%} of your rejects, "
                     f"{ours[~truth].mean():.0%} of your keepers")
    return "\n".join(lines)


def write_sensitivity(config: Config, value: float) -> Path:
    """Set ``sensitivity`` in the user's config file, keeping every other line and comment."""
    source = Path(config.source)
    target = source if source.is_file() else config_mod.standard_locations()[0]
    text = target.read_text(encoding="utf-8") if target.is_file() else ""
    line = f"sensitivity: {value}"
    new, count = re.subn(r"(?m)^sensitivity:.*$", line, text)
    if count == 0:
        new = text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    config_mod.from_mapping(yaml.safe_load(new) or {}, source=str(target))  # still valid
    target.parent.mkdir(parents=True, exist_ok=True)
    files.replace(target, new.encode("utf-8"))
    return target
