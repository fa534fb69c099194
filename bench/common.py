"""What the floor and peer scripts share: which files a folder holds, and a process pool like blurwatch's."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable, Iterator, TypeVar

SUFFIXES = frozenset({".jpg", ".jpeg", ".dng"})

Result = TypeVar("Result")


def photos_in(folder: Path) -> list[Path]:
    """The benchmark photos directly in ``folder`` (no sidecars), sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def pool_map(task: Callable[[Path], Result], files: list[Path], jobs: int) -> Iterator[Result]:
    """``task`` over ``files`` in ``jobs`` spawned processes, one file at a time, as blurwatch runs them."""
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(task, files, chunksize=1)
