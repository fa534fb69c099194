"""What the bench scripts share: the machine they ran on, and a process pool that runs like blurwatch's."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

Result = TypeVar("Result")

# The CPU features the network's speed turns on: LiteRT's XNNPACK kernels pick the widest
# vectors the CPU has (AVX-512 or AVX2) and the int8 dot products (VNNI) where there are some.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def machine() -> str:
    """One line naming the CPU, its core count and which of :data:`CPU_FLAGS` it has (Linux)."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    shown = " ".join(flag if flag in flags else f"no {flag}" for flag in CPU_FLAGS)
    return f"{model}, {os.cpu_count()} cores; {shown}"


def pool_map(task: Callable[[Path], Result], files: list[Path], jobs: int) -> Iterator[Result]:
    """``task`` over ``files`` in ``jobs`` spawned processes, one file at a time, as blurwatch runs them."""
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(task, files, chunksize=1)
