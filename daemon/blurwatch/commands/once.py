"""``blurwatch --once PATH...``: score every photo under the paths, write sidecars, exit.

Photos are scored in worker processes (:func:`blurwatch.commands.jobs.run_jobs`), so a
file that crashes the RAW decoder costs that file only. A job that met a photo or a
sidecar changing under it (another program saving the sidecar each time, a photo
replaced while judged) is run once more at the end. With ``--json`` every photo gets
one JSON object on stdout (both photos of a RAW+JPEG pair); the summary goes to
stderr. Exit status 0 when every photo was processed, 1 when some failed (they are
listed at the end, one line each whatever their names hold).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from blurwatch import discovery, sidecar
from blurwatch.commands.jobs import positive_int, run_jobs
from blurwatch.config import Config
from blurwatch.errors import one_line, shown
from blurwatch.job import Job, Outcome
from blurwatch.workers import default_jobs

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "once",
        help="score photos once, write their sidecars and exit (also: --once)",
        description="Score every photo under the given files and folders (recursively) and "
        "write the verdicts into XMP sidecars beside them. The photos themselves are never written.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos or folders")
    parser.add_argument("-j", "--jobs", type=positive_int, metavar="N",
                        help="worker processes (default: 'jobs' from the config, else one per CPU core)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per photo on stdout")
    parser.add_argument("-n", "--dry-run", action="store_true", help="score only; write no sidecar")
    parser.add_argument("--force", action="store_true", help="also replace ratings that were set by hand")
    parser.add_argument("--report", type=Path, metavar="FILE", help="also write an HTML report to FILE")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    groups, errors = discovery.find_jobs(args.paths)
    jobs = [Job(group, dry_run=args.dry_run, force=args.force) for group in groups]
    workers = args.jobs or default_jobs(config)
    progress = sys.stderr.isatty() and not args.json and not args.quiet
    summary = RunSummary(workers=min(workers, max(1, len(jobs))), dry_run=args.dry_run)
    for error in errors:
        summary.fail(error)
    again = []
    for outcome in run_jobs(jobs, config, workers, progress):
        if outcome.retry:  # held back: counted and printed after the second try
            again.append(outcome.job)
            continue
        _take(outcome, summary, config, args.json)
    if again:
        log.info("%d job(s) met a photo or sidecar that changed meanwhile; trying them once more", len(again))
        for outcome in run_jobs(again, config, workers, progress):
            _take(_with_advice(outcome), summary, config, args.json)
    summary.finish()
    summary.print(sys.stderr, quiet=args.quiet)
    if args.report is not None:
        written = write_report(args.paths, args.report, config)
        if not args.quiet:
            print(f"blurwatch: report {written.resolve().as_uri()}", file=sys.stderr)
    return 1 if summary.failures else 0


def _take(outcome: Outcome, summary: RunSummary, config: Config, as_json: bool) -> None:
    summary.add(outcome)
    if as_json:
        for record in photo_records(outcome, config):
            print(json.dumps(record), flush=True)


def _with_advice(outcome: Outcome) -> Outcome:
    """After the second try, what to do about a photo whose failure may still pass."""
    errors = {photo: f"{error}; tried twice: run blurwatch --once on it again when nothing else writes it"
              if photo in outcome.retry else error for photo, error in outcome.errors.items()}
    return dataclasses.replace(outcome, errors=errors)


def photo_records(outcome: Outcome, config: Config) -> list[dict[str, Any]]:
    """The ``--json`` objects of one outcome: one per photo, ``{"path", "error"}`` for a failure.

    ``timings`` holds the seconds the worker spent per stage (decode, score, write) on the
    outcome's job, which both photos of a RAW+JPEG pair share; bench/run.py reads them.
    """
    records = []
    for photo in outcome.job.photos:
        error = outcome.error_for(photo)
        if outcome.result is None or error:
            records.append({"path": str(photo), "error": error})
            continue
        record = outcome.result.to_json()
        record["path"] = str(photo)
        record["sidecar"] = [str(p) for p in outcome.sidecars if p in _sidecars_of(photo, outcome, config)]
        record["timings"] = {stage: round(seconds, 4) for stage, seconds in outcome.timings.items()}
        records.append(record)
    return records


def _sidecars_of(photo: Path, outcome: Outcome, config: Config) -> set[Path]:
    """Which of the outcome's sidecars belong to ``photo`` (none written: no need to ask)."""
    return set(sidecar.sidecar_paths(photo, config.sidecar.naming)) if outcome.sidecars else set()


def write_report(paths: list[Path], out: Path, config: Config) -> Path:
    """The HTML report of the photos just scored (the report module loads only when asked)."""
    from blurwatch import report

    return report.write_report(paths, out, config)


@dataclass
class RunSummary:
    """What a run did, counted per photo, for the lines printed at the end."""

    workers: int
    dry_run: bool = False
    decisions: collections.Counter[str] = field(default_factory=collections.Counter)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    photos: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        for photo in outcome.job.photos:
            self.photos += 1
            error = outcome.error_for(photo)
            if outcome.result is None or error:
                self.fail(error or f"{shown(photo)}: failed")
                continue
            self.decisions[outcome.result.verdict.decision] += 1
            if outcome.result.verdict.decision == "reject":
                self.reasons.update(outcome.result.verdict.reasons)

    def fail(self, line: str) -> None:
        """Count a failure once (both photos of a pair that cannot be decoded share one line)."""
        if line not in self.failures:
            self.failures.append(line)

    def finish(self) -> None:
        self.seconds = time.monotonic() - self.started

    def print(self, stream: TextIO, quiet: bool = False) -> None:
        """The counts, then the failures; with ``quiet`` only the failures."""
        if not quiet:
            rate = self.photos / self.seconds if self.seconds > 0 else 0.0
            note = " (dry run: nothing written)" if self.dry_run else ""
            print(f"blurwatch: {self.photos} photos in {self.seconds:.1f} s ({rate:.1f} photos/s, "
                  f"{self.workers} workers){note}", file=stream)
            for decision in ("keep", "review", "reject"):
                print(f"  {decision:<8}{self.decisions[decision]:>6}{self._why(decision)}", file=stream)
            print(f"  {'failed':<8}{len(self.failures):>6}", file=stream)
        for failure in map(one_line, self.failures):
            print(f"    {failure}" if not quiet else f"blurwatch: {failure}", file=stream)

    def _why(self, decision: str) -> str:
        if decision != "reject" or not self.reasons:
            return ""
        return "  (" + ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common()) + ")"
