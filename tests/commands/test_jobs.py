"""What the scoring commands share: ``--jobs`` and running jobs in the worker pool."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from blurwatch.commands.jobs import positive_int, run_jobs
from blurwatch.config import Config
from blurwatch.job import Job
from blurwatch.sharpness import default_model_dir
from helpers.photos import make_photo


def test_jobs_is_a_positive_number() -> None:
    assert positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="must be 1 or more, not 0"):
        positive_int("0")


def test_no_jobs_start_no_pool() -> None:
    assert list(run_jobs([], Config(), workers=4, progress=False)) == []


@pytest.mark.skipif(not (default_model_dir() / "sharpness.json").is_file(), reason="no shipped model")
def test_every_job_comes_back_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = make_photo(tmp_path / "a.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(b"\xff\xd8\xff\xe0")
    jobs = [Job((good,), dry_run=True), Job((cut,), dry_run=True)]
    with caplog.at_level("INFO", logger="blurwatch.commands.jobs"):
        outcomes = {o.job: o for o in run_jobs(jobs, Config(), workers=2, progress=False)}
    assert set(outcomes) == set(jobs) and outcomes[jobs[0]].result is not None
    assert caplog.text.count(f"{cut}: ") == 1  # a failure is logged once, and listed again in the summary
