"""What the floor and peer scripts share: a process pool that runs like blurwatch's."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

Result = TypeVar("Result")


def pool_map(task: Callable[[Path], Result], files: list[Path], jobs: int) -> Iterator[Result]:
    """``task`` over ``files`` in ``jobs`` spawned processes, one file at a time, as blurwatch runs them."""
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(task, files, chunksize=1)
