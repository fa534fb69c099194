"""``blurwatch --once PATH...``: score every photo under the paths, write sidecars, exit.

Photos are scored in worker processes (:func:`blurwatch.commands.jobs.run_jobs`), so a
file that crashes the RAW decoder costs that file only. A job that met a photo or a
sidecar changing under it (another program saving the sidecar each time, a photo
replaced while judged) is run once more at the end. When every photo is done, the
burst stage (:mod:`blurwatch.burst_stage`) groups bursts and brackets and writes what
that changes; the jobs of frames taken within ``burst.gap_seconds`` of another leave
their writing to it, so each is written once, with its group. A photo named on its own
brings the frames taken around it in its folder along, so that its burst is judged
whole. With ``--json`` every photo then gets one JSON
object on stdout (both photos of a RAW+JPEG pair), whose ``rating`` and
``rating_is_manual`` are what its sidecar holds afterwards, as ``blurwatch verdict
--json`` would read them, with ``"burst"`` or ``"bracket"`` (``{"id", "best", "size"}``)
for a frame of one; with ``-v`` one line per photo goes to stderr. The summary on
stderr counts the verdicts, the sidecars written and left unchanged, the ratings kept
because somebody set them, the files skipped because blurwatch does not read their type,
and lists every failure, one line each whatever the names in it hold. Exit status 0 when
every photo was processed, 1 when some failed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from blurwatch import burst_stage, discovery, sidecar
from blurwatch.commands.jobs import plural, positive_int, run_jobs
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
    skipped: collections.Counter[str] = collections.Counter()
    groups, errors = discovery.find_jobs(args.paths, skipped)
    started = time.monotonic()
    named = [Path(os.path.abspath(path)) for path in args.paths if path.is_file()]
    groups = burst_stage.widen(groups, named, config)  # a named photo's burst is judged whole
    later = burst_stage.deferred(groups, config) if not args.dry_run else set()  # bursts: written once, grouped
    grouping = time.monotonic() - started
    jobs = [Job(group, dry_run=args.dry_run, force=args.force, defer=group[0] in later) for group in groups]
    workers = args.jobs or default_jobs(config)
    progress = sys.stderr.isatty() and not args.json and not args.quiet
    summary = RunSummary(workers=min(workers, max(1, len(jobs))), dry_run=args.dry_run, skipped=skipped)
    for error in errors:
        summary.fail(error)
    outcomes, again = [], []
    for outcome in run_jobs(jobs, config, workers, progress):
        if outcome.retry:  # held back: counted and printed after the second try
            again.append(outcome.job)
            continue
        outcomes.append(outcome)
    if again:
        log.info("%d job(s) met a photo or sidecar that changed meanwhile; trying them once more", len(again))
        outcomes += [_with_advice(outcome) for outcome in run_jobs(again, config, workers, progress)]
    started = time.monotonic()
    outcomes = burst_stage.finish(outcomes, config)
    summary.grouping_seconds = grouping + time.monotonic() - started
    for outcome in outcomes:
        _take(outcome, summary, config, args.json)
    summary.finish()
    summary.print(sys.stderr, quiet=args.quiet)
    if args.report is not None:
        written = write_report(args.paths, args.report, config, summary.failed_photos)
        if not args.quiet:
            print(f"blurwatch: report {written.resolve().as_uri()}", file=sys.stderr)
    return 1 if summary.failures else 0


def _take(outcome: Outcome, summary: RunSummary, config: Config, as_json: bool) -> None:
    """Count an outcome, log its photos' lines (``-v``) and print their JSON objects."""
    summary.add(outcome)
    for line in photo_lines(outcome, config):
        log.info("%s", line)
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

    ``rating`` is the rating the photo's sidecar holds afterwards (with ``--dry-run``:
    would hold) and ``rating_is_manual`` whether somebody set it, by the rule ``blurwatch
    verdict`` reads it by. ``timings`` holds the seconds the worker spent per step
    (:data:`blurwatch.job.STEPS`: decode, exposure, patches, network, group, write) on
    the outcome's job, which both photos of a RAW+JPEG pair share; bench/run.py reads them.
    """
    records = []
    for photo in outcome.job.photos:
        error = outcome.error_for(photo)
        if outcome.result is None or error:
            records.append({"path": str(photo), "error": error})
            continue
        merged = outcome.merged_for(photo, config.sidecar.naming)
        record = outcome.result.to_json()
        record["path"] = str(photo)
        record["rating"] = merged.rating if merged else outcome.result.rating
        record["rating_is_manual"] = merged.rating_is_manual if merged else False
        record["sidecar"] = [str(p) for p in _sidecars_of(photo, outcome)]
        record["timings"] = {stage: round(seconds, 4) for stage, seconds in outcome.timings.items()}
        if outcome.group is not None:
            record[outcome.group.kind] = outcome.group.to_json()
        records.append(record)
    return records


def photo_lines(outcome: Outcome, config: Config) -> list[str]:
    """What ``-v`` shows: one line per photo with its verdict, reasons, score and what its sidecar got."""
    if outcome.result is None:
        return []  # the failure is logged, and listed in the summary
    verdict = outcome.result.verdict
    said = verdict.decision + (f" ({', '.join(verdict.reasons)})" if verdict.reasons else "")
    lines = []
    for photo in outcome.job.photos:
        if outcome.error_for(photo):
            continue
        merged = outcome.merged_for(photo, config.sidecar.naming)
        lines.append(f"{shown(photo)}: {said}, sharpness {outcome.result.sharpness.shown()}"
                     f"{_sidecar_words(merged)}")
    return lines


def _sidecar_words(merged: sidecar.Merged | None) -> str:
    if merged is None:
        return ""
    kept = f"; {' and '.join(merged.kept_by_hand).lower()} kept, set by hand" if merged.kept_by_hand else ""
    return f"; sidecar {'written' if merged.changed else 'unchanged'}{kept}"


def _sidecars_of(photo: Path, outcome: Outcome) -> list[Path]:
    """The sidecars written for ``photo``: the Adobe-named one a RAW+JPEG pair shares is the RAW's."""
    return [] if outcome.job.dry_run else [merged.sidecar for merged in outcome.merges if merged.photo == photo]


def write_report(paths: list[Path], out: Path, config: Config, failures: dict[Path, str]) -> Path:
    """The HTML report of the photos just scored and of those that failed (the report module loads when asked)."""
    from blurwatch import report

    return report.write_report(paths, out, config, failures=failures)


@dataclass
class RunSummary:
    """What a run did, counted per photo, for the lines printed at the end."""

    workers: int
    dry_run: bool = False
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)  # extension -> files
    decisions: collections.Counter[str] = field(default_factory=collections.Counter)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    groups: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))  # kind -> ids
    grouping_seconds: float = 0.0  # finding frames' neighbours before the jobs, and the burst stage after them
    failures: list[str] = field(default_factory=list)
    failed_photos: dict[Path, str] = field(default_factory=dict)  # photo -> its error line, for the report
    photos: int = 0
    pairs: int = 0  # RAW+JPEG pairs, each scored once
    sidecars: collections.Counter[str] = field(default_factory=collections.Counter)  # "written", "unchanged"
    kept_by_hand: int = 0  # photos whose hand-set rating (or label) was kept
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.pairs += len(outcome.job.photos) > 1
        self.sidecars.update("written" if m.changed else "unchanged" for m in outcome.merges)
        self.kept_by_hand += len({m.photo for m in outcome.merges if m.kept_by_hand})
        for photo in outcome.job.photos:
            self.photos += 1
            error = outcome.error_for(photo)
            if outcome.result is None or error:
                self.failed_photos[photo] = error or f"{shown(photo)}: failed"
                self.fail(self.failed_photos[photo])
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
            pairs = f", {plural(self.pairs, 'RAW+JPEG pair')} scored once each" if self.pairs else ""
            print(f"blurwatch: {plural(self.photos, 'photo')}{pairs} in {self.seconds:.1f} s ({rate:.1f} photos/s, "
                  f"{plural(self.workers, 'worker')}){note}", file=stream)
            for decision in ("keep", "review", "reject"):
                print(f"  {decision:<8}{self.decisions[decision]:>6}{self._why(decision)}", file=stream)
            print(f"  {'failed':<8}{len(self.failures):>6}", file=stream)
            for line in self._sidecar_lines():
                print(f"  {line}", file=stream)
        for failure in map(one_line, self.failures):
            print(f"    {failure}" if not quiet else f"blurwatch: {failure}", file=stream)

    def _sidecar_lines(self) -> list[str]:
        lines = []
        if self.groups:
            found = ", ".join(plural(len(ids), kind) for kind, ids in sorted(self.groups.items()))
            lines.append(f"grouped: {found} in {self.grouping_seconds:.2f} s")
        if self.sidecars:
            verb = ("would be written", "already up to date") if self.dry_run else ("written", "unchanged")
            lines.append(f"sidecars: {self.sidecars['written']} {verb[0]}, {self.sidecars['unchanged']} {verb[1]}")
        if self.kept_by_hand:
            lines.append(f"kept as set by hand: the rating or label of {plural(self.kept_by_hand, 'photo')} "
                         "(--force replaces them)")
        if self.skipped:
            kinds = ", ".join(f"{n} {ext}" for ext, n in self.skipped.most_common())
            lines.append(f"skipped: {plural(sum(self.skipped.values()), 'file')} of a type blurwatch "
                         f"does not read ({kinds})")
        return lines

    def _why(self, decision: str) -> str:
        if decision != "reject" or not self.reasons:
            return ""
        return "  (" + ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common()) + ")"
