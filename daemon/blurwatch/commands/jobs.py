"""Running jobs for the commands that score photos (``--once``, ``demo``, ``calibrate``).

Not a command itself: what those commands share. Jobs run in the worker pool, so a file
that crashes the RAW decoder costs that file only, with a progress bar on stderr when
asked; :func:`positive_int` is the type of their ``--jobs`` option, :func:`plural` counts
things in their summaries.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from blurwatch.config import Config
from blurwatch.job import Job, Outcome
from blurwatch.workers import WorkerPool

log = logging.getLogger(__name__)


def plural(count: int, noun: str) -> str:
    """``1 photo``, ``2 photos``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def run_jobs(jobs: Sequence[Job], config: Config, workers: int, progress: bool) -> Iterator[Outcome]:
    """Run ``jobs`` on up to ``workers`` processes, yielding outcomes as they finish."""
    if not jobs:
        return
    total = sum(len(job.photos) for job in jobs)
    redirect_logging = logging_redirect_tqdm() if progress else contextlib.nullcontext()
    bar = tqdm(total=total, unit="photo", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    with WorkerPool(config, min(workers, len(jobs))) as pool, redirect_logging, bar:
        for outcome in pool.map_unordered(jobs):
            for error in dict.fromkeys(outcome.errors.values()):  # a pair that failed shares one line
                log.info("%s", error)  # listed again in the summary, which is what a terminal shows
            bar.update(len(outcome.job.photos))
            yield outcome
