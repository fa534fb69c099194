"""The patch network's own speed on this CPU: patches a second, by batch size and threads.

    .venv/bin/python bench/network.py [--patches 256] [--repeat 7]

One command for the per-CPU table in bench/README.md: it prints the machine (CPU model,
cores, AVX2 / AVX-512 / VNNI), then, for the shipped network (``sharpness.tflite``, as
blurwatch runs it: LiteRT with its XNNPACK kernels), the time to score one photo's
worth of patches (256, blurwatch's most) at several batch sizes with one and with two
threads, best of ``--repeat``. It also checks that every batch size gives the same
logits: a patch's logit must not depend on the patches beside it. Needs no photos.
"""

from __future__ import annotations

import argparse
import time
from importlib import metadata

import numpy as np

from blurwatch import sharpness
from blurwatch.pipeline import Models
from common import machine

BATCHES = (1, 8, 16, 32, 64, 256)
THREADS = (1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=256, help="patches per photo")
    parser.add_argument("--repeat", type=int, default=7, help="timings per setting; the best is shown")
    args = parser.parse_args()
    size = Models.load().sharpness.spec.size
    patches = np.random.default_rng(0).standard_normal((args.patches, size, size, 1)).astype(np.float32)
    print(f"machine: {machine()}; LiteRT {metadata.version('ai-edge-litert')}")
    print(f"the shipped patch network, {args.patches} patches of {size} px (one photo's worth), best of {args.repeat}")
    print("\n| threads | batch | ms per photo | patches/s |\n|---:|---:|---:|---:|")
    reference = None
    for threads in THREADS:
        for batch in BATCHES:
            seconds, logits = best_time(patches, batch, threads, args.repeat)
            reference = logits if reference is None else reference
            if not np.array_equal(logits, reference):
                raise SystemExit(f"batch {batch}, {threads} threads: logits differ by up to "
                                 f"{np.abs(logits - reference).max():.2e} from batch {BATCHES[0]}'s")
            print(f"| {threads} | {batch} | {1000 * seconds:.1f} | {args.patches / seconds:,.0f} |")
    print(f"\nblurwatch runs batches of {sharpness.BATCH}, one thread a worker.")
    return 0


def best_time(patches: np.ndarray, batch: int, threads: int, repeat: int) -> tuple[float, np.ndarray]:
    """The least seconds ``predict`` took over ``patches`` (a fresh network, warmed up), and its logits."""
    network = Models.load(num_threads=threads).sharpness.network
    original, sharpness.BATCH = sharpness.BATCH, batch
    try:
        logits = network.predict(patches)  # warm-up: creates the interpreter, sizes the tensors
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            network.predict(patches)
            times.append(time.perf_counter() - started)
    finally:
        sharpness.BATCH = original
    return min(times), logits


if __name__ == "__main__":
    raise SystemExit(main())
