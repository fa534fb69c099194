"""The patch network's own speed on this CPU: patches a second, by batch size and threads.

    .venv/bin/python bench/network.py [--patches 256] [--repeat 7] [--against FILE.tflite ...]

One command for the per-CPU table in bench/README.md: it prints the machine (CPU model,
cores, AVX2 / AVX-512 / VNNI), then, for the shipped network (``sharpness.tflite``, as
blurwatch runs it: LiteRT with its XNNPACK kernels), the time to score one photo's
worth of patches (256, blurwatch's most) at several batch sizes with one and with two
threads, best of ``--repeat``. It checks that every batch size gives the same logits: a
patch's logit must not depend on the patches beside it. Needs no photos.

``--against`` times other exports of a network beside the shipped one, in the same run
and at blurwatch's batch size, and prints how far their logits are from the shipped
one's: how a change of export was decided (bench/README.md). The int8 network shipped
before issue #16, for instance, is ``git show fff7981~1:daemon/blurwatch/models/sharpness.tflite``.
"""

from __future__ import annotations

import argparse
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from blurwatch import sharpness
from blurwatch.sharpness import PatchNetwork, default_model_dir
from common import machine

BATCHES = (1, 8, 16, 32, 64, 256)
THREADS = (1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=256, help="patches per photo")
    parser.add_argument("--repeat", type=int, default=7, help="timings per setting; the best is shown")
    parser.add_argument("--against", nargs="*", type=Path, default=[], help="other .tflite files to time beside it")
    args = parser.parse_args()
    shipped = sharpness.SharpnessModel.load().network
    size = shipped.spec.size
    patches = np.random.default_rng(0).standard_normal((args.patches, size, size, 1)).astype(np.float32)
    print(f"machine: {machine()}; LiteRT {metadata.version('ai-edge-litert')}")
    print(f"the shipped patch network, {args.patches} patches of {size} px (one photo's worth), best of {args.repeat}")
    print("\n| threads | batch | ms per photo | patches/s |\n|---:|---:|---:|---:|")
    reference = None
    for threads in THREADS:
        for batch in BATCHES:
            seconds, logits = best_time(shipped.model_path, shipped.spec, patches, batch, threads, args.repeat)
            reference = logits if reference is None else reference
            if not np.array_equal(logits, reference):
                raise SystemExit(f"batch {batch}, {threads} threads: logits differ by up to "
                                 f"{np.abs(logits - reference).max():.2e} from batch {BATCHES[0]}'s")
            print(f"| {threads} | {batch} | {1000 * seconds:.1f} | {args.patches / seconds:,.0f} |")
    print(f"\nblurwatch runs batches of {sharpness.BATCH}, one thread a worker.")
    if args.against:
        compare([shipped.model_path, *args.against], shipped.spec, patches, args.repeat)
    return 0


def compare(files: list[Path], spec: sharpness.PatchSpec, patches: np.ndarray, repeat: int) -> None:
    """Each network file timed in turn, three rounds; the best of each, and its logits against the first's."""
    print(f"\nside by side, batch {sharpness.BATCH}, best of {3 * repeat} over three alternating rounds:")
    print("\n| network | threads | ms per photo | patches/s | largest logit difference |\n|---|---:|---:|---:|---:|")
    for threads in THREADS:
        best: dict[Path, float] = {}
        logits: dict[Path, np.ndarray] = {}
        for _ in range(3):
            for path in files:
                seconds, logits[path] = best_time(path, spec, patches, sharpness.BATCH, threads, repeat)
                best[path] = min(best.get(path, seconds), seconds)
        for path in files:
            shown = path.name if path.parent == default_model_dir() else str(path)
            difference = np.abs(logits[path] - logits[files[0]]).max()
            print(f"| {shown} | {threads} | {1000 * best[path]:.1f} | {len(patches) / best[path]:,.0f} "
                  f"| {difference:.2e} |")


def best_time(model: Path, spec: sharpness.PatchSpec, patches: np.ndarray, batch: int, threads: int,
              repeat: int) -> tuple[float, np.ndarray]:
    """The least seconds ``predict`` took over ``patches`` (a fresh network, warmed up), and its logits."""
    network = PatchNetwork(model, spec, threads)
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
