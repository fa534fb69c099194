"""``blurwatch --once PATH...``: score every photo under the paths, write sidecars, exit.

Photos are scored in worker processes (:func:`blurwatch.commands.jobs.run_jobs`), so a
file that crashes the RAW decoder costs that file only. When every photo is done, the
burst stage (:mod:`blurwatch.burst_stage`) groups bursts and brackets and writes what
that changes; a photo named on its own brings the frames taken around it in its folder
along, so that its burst is judged whole. With ``--json`` every photo then gets one JSON object on stdout (both
photos of a RAW+JPEG pair), with ``"burst"`` or ``"bracket"`` (``{"id", "best",
"size"}``) for a frame of one; the summary goes to stderr. Exit status 0 when every
photo was processed, 1 when some failed (they are listed at the end).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from blurwatch import burst_stage, discovery, sidecar
from blurwatch.commands.jobs import positive_int, run_jobs
from blurwatch.config import Config
from blurwatch.job import Job, Outcome
from blurwatch.workers import default_jobs


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
    named = [Path(os.path.abspath(path)) for path in args.paths if path.is_file()]
    groups = burst_stage.widen(groups, named, config)  # a named photo's burst is judged whole
    jobs = [Job(group, dry_run=args.dry_run, force=args.force) for group in groups]
    workers = args.jobs or default_jobs(config)
    progress = sys.stderr.isatty() and not args.json and not args.quiet
    summary = RunSummary(workers=min(workers, max(1, len(jobs))), dry_run=args.dry_run)
    for error in errors:
        summary.fail(error)
    outcomes = list(run_jobs(jobs, config, workers, progress))
    started = time.monotonic()
    outcomes = burst_stage.finish(outcomes, config)
    summary.grouping_seconds = time.monotonic() - started
    for outcome in outcomes:
        summary.add(outcome)
        if args.json:
            for record in photo_records(outcome, config):
                print(json.dumps(record), flush=True)
    summary.finish()
    summary.print(sys.stderr, quiet=args.quiet)
    if args.report is not None:
        written = write_report(args.paths, args.report, config)
        if not args.quiet:
            print(f"blurwatch: report {written.resolve().as_uri()}", file=sys.stderr)
    return 1 if summary.failures else 0


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
        if outcome.group is not None:
            record[outcome.group.kind] = outcome.group.to_json()
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
    groups: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))  # kind -> ids
    failures: list[str] = field(default_factory=list)
    photos: int = 0
    grouping_seconds: float = 0.0  # the burst stage, after the jobs
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        for photo in outcome.job.photos:
            self.photos += 1
            error = outcome.error_for(photo)
            if outcome.result is None or error:
                self.fail(error or f"{photo}: failed")
                continue
            self.decisions[outcome.result.verdict.decision] += 1
            if outcome.result.verdict.decision == "reject":
                self.reasons.update(outcome.result.verdict.reasons)
        if outcome.group is not None:
            self.groups[outcome.group.kind].add(outcome.group.id)

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
            if self.groups:
                found = ", ".join(f"{len(ids)} {kind}{'s' if len(ids) != 1 else ''}"
                                  for kind, ids in sorted(self.groups.items()))
                print(f"  grouped {found} in {self.grouping_seconds:.2f} s", file=stream)
        for failure in self.failures:
            print(f"    {failure}" if not quiet else f"blurwatch: {failure}", file=stream)

    def _why(self, decision: str) -> str:
        if decision != "reject" or not self.reasons:
            return ""
        return "  (" + ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common()) + ")"
