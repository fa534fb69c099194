"""Shared test fixtures: where the team's real data lives, and markers to skip without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BLURWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))

requires_shared = pytest.mark.skipif(
    not (SHARED_DATA / "photos" / "manifest.csv").is_file(),
    reason=f"the team's real photos are not at {SHARED_DATA} (../shared/data beside the checkout)",
)


def requires_program(name: str) -> pytest.MarkDecorator:
    """Skip unless ``name`` is on PATH (exiftool, exiv2, darktable, chromium...)."""
    return pytest.mark.skipif(shutil.which(name) is None, reason=f"{name} is not installed")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "photos" / "manifest.csv").is_file():
        pytest.skip(f"the team's real photos are not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def models():
    """The shipped models, loaded once for the whole session."""
    from blurwatch.pipeline import Models

    return Models.load()


@pytest.fixture(autouse=True)
def _root_log_handlers_restored():
    """A test that runs ``cli.main`` in-process sets up logging on its captured streams; put
    the root logger back afterwards, so later tests do not log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
