"""``blurwatch demo [DIR]``: build a folder of example photos, score it, show the verdicts.

The photos are real photographs shipped inside scikit-image, some left as they are and
some given a fault (missed focus, camera shake, under- and overexposure, and a sharp
subject on a blurred background, which must be kept). They go through exactly the
``--once`` path, so the sidecars written are what darktable, digiKam or Lightroom show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from blurwatch import demo
from blurwatch.commands.jobs import positive_int, run_jobs
from blurwatch.config import Config
from blurwatch.job import Job, Outcome
from blurwatch.workers import default_jobs


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="build a folder of example photos, score it and show the verdicts",
        description="Write example photos (from scikit-image, some with made faults) into DIR, "
        "score them like --once and print what blurwatch decided. Needs no network.",
    )
    parser.add_argument("folder", nargs="?", type=Path, default=Path("blurwatch-demo"), metavar="DIR",
                        help="where to build the demo (default: ./blurwatch-demo)")
    parser.add_argument("-j", "--jobs", type=positive_int, metavar="N", help="worker processes")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    made = demo.build(args.folder)
    jobs = [Job((path,), force=True) for path, _ in made]
    progress = sys.stderr.isatty() and not args.quiet
    outcomes = {o.job.photos[0]: o for o in run_jobs(jobs, config, args.jobs or default_jobs(config), progress)}
    rows = [_row(path, photo, outcomes[path]) for path, photo in made]
    print(_table(["photo", "made fault", "expected", "verdict", "sharpness", ""], rows))
    surprises = sum(1 for row in rows if row[-1])
    print(f"\n{len(rows)} photos in {args.folder}; "
          + (f"{surprises} not as expected." if surprises else "every verdict as expected.")
          + "\nOpen the folder in darktable, digiKam or Lightroom: rejects show as rejected, "
          "and 'blurwatch score FILE' tells why.")
    return 1 if any(o.result is None for o in outcomes.values()) else 0


def _row(path: Path, photo: demo.DemoPhoto, outcome: Outcome) -> list[str]:
    if outcome.result is None:
        return [path.name, photo.fault, photo.expected, f"failed: {outcome.error_for(path)}", "", "<- unexpected"]
    verdict = outcome.result.verdict
    shown = verdict.decision + (f" ({', '.join(verdict.reasons)})" if verdict.reasons else "")
    mark = "" if photo.matches(verdict.decision) else "<- unexpected"
    return [path.name, photo.fault, photo.expected, shown, outcome.result.sharpness.shown(2), mark]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths if width).rstrip())
    return "\n".join(lines)
