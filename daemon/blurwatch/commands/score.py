"""``blurwatch score FILE``: score one photo in this process and print why; writes nothing.

It runs the per-photo job of ``--once`` as a dry run (:func:`blurwatch.job.run_job`), so
the rating it shows is the one ``--once`` would leave: a rating set by hand is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from blurwatch.config import Config
from blurwatch.errors import UsageError
from blurwatch.job import Job, run_job
from blurwatch.pipeline import Models, PhotoResult
from blurwatch.sidecar import Merged


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
    if not args.file.exists():
        raise UsageError(f"{args.file}: no such file")
    outcome = run_job(Job((args.file,), dry_run=True), config, Models.load())
    if outcome.result is None:
        print(f"blurwatch: {outcome.error_for(args.file)}", file=sys.stderr)
        return 1
    merged = outcome.merged_for(args.file, config.sidecar.naming)
    if args.json:
        print(json.dumps(outcome.result.to_json() | _sidecar_fields(merged)))
    else:
        print(describe(outcome.result, merged))
    for error in outcome.errors.values():  # its sidecar cannot be merged into: --once would fail it
        print(f"blurwatch: {error}", file=sys.stderr)
    return 0


def _sidecar_fields(merged: Merged | None) -> dict[str, Any]:
    """The rating ``--once`` would leave in the sidecar, as its ``--json`` tells it."""
    return {"rating": merged.rating, "rating_is_manual": merged.rating_is_manual} if merged else {}


def describe(result: PhotoResult, merged: Merged | None = None) -> str:
    """A few lines a person can read: the verdict, then each measurement against its limit.

    ``merged`` is what ``--once`` would do to the photo's sidecar: the rating line tells
    the rating it would leave, and a rating set by hand that it would keep.
    """
    verdict = result.verdict
    reasons = f" ({', '.join(verdict.reasons)})" if verdict.reasons else ""
    rating = _rating_words(result, merged)
    limits = result.thresholds
    exposure = result.exposure
    return "\n".join([
        f"{result.path}: {verdict.decision}{reasons}",
        f"  sharpness  {result.sharpness.shown()}  (reject below {limits.reject_below:.3f}, "
        f"keep from {limits.keep_from:.3f}; {result.sharpness.patches} textured patches)",
        f"  dark       {exposure.dark:.3f}  (reject from {limits.dark.reject_at:.3f}, "
        f"review from {limits.dark.review_at:.3f})",
        f"  overexp.   {exposure.overexposed:.3f}  (reject from {limits.overexposed.reject_at:.3f}, "
        f"review from {limits.overexposed.review_at:.3f})",
        f"  exposure   {exposure.mean_ev:+.2f} EV  (clipped {exposure.clipped:.1%}, crushed {exposure.crushed:.1%}; "
        f"levels 1% {exposure.shadows}, median {exposure.median}, 99% {exposure.highlights})",
        f"  rating     {rating}",
        f"  decoded from {result.decoded_from}, model {result.model_version}",
    ])


def _rating_words(result: PhotoResult, merged: Merged | None) -> str:
    if merged is not None and "Rating" in merged.kept_by_hand:
        return (f"{merged.rating} (set by hand, kept; --force would write "
                f"{result.rating})")
    if merged is not None:
        return "none" if merged.rating is None else str(merged.rating)
    return "unchanged" if result.rating is None else str(result.rating)
