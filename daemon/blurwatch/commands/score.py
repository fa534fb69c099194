"""``blurwatch score FILE``: score one photo in this process and print why; writes nothing.

It runs the per-photo job of ``--once`` as a dry run (:func:`blurwatch.job.run_job`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from blurwatch.config import Config
from blurwatch.job import Job, run_job
from blurwatch.pipeline import PhotoResult
from blurwatch.sharpness import SharpnessModel


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "score",
        help="score one photo and print the scores and reasons (writes nothing)",
        description="Decode and score one photo and print its verdict with the measurements "
        "behind it. Nothing is written.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the photo")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    outcome = run_job(Job((args.file,), dry_run=True), config, SharpnessModel.load())
    if outcome.result is None:
        print(f"blurwatch: {outcome.error_for(args.file)}", file=sys.stderr)
        return 1
    print(json.dumps(outcome.result.to_json()) if args.json else describe(outcome.result))
    return 0


def describe(result: PhotoResult) -> str:
    """A few lines a person can read: the verdict, then each measurement against its limit."""
    verdict = result.verdict
    reasons = f" ({', '.join(verdict.reasons)})" if verdict.reasons else ""
    rating = "unchanged" if result.rating is None else str(result.rating)
    limits = result.thresholds
    exposure = result.exposure
    return "\n".join([
        f"{result.path}: {verdict.decision}{reasons}",
        f"  sharpness  {result.sharpness.score:.3f}  (reject below {limits.reject_below:.3f}, "
        f"keep from {limits.keep_from:.3f}; {result.sharpness.patches} textured patches)",
        f"  exposure   {exposure.mean_ev:+.2f} EV  (clipped {exposure.clipped:.1%}, crushed {exposure.crushed:.1%}; "
        f"levels 1% {exposure.shadows}, median {exposure.median}, 99% {exposure.highlights})",
        f"  rating     {rating}",
        f"  decoded from {result.decoded_from}, model {result.model_version}",
    ])
