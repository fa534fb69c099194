"""How long the HTML report takes to make its thumbnails from camera-sized files.

    .venv/bin/python bench/report_thumbnails.py [--n 10] [--jobs N]

The report's own cost is small (reading sidecars, writing ~1 kB of HTML a photo; see the
slow test in tests/test_report.py); what grows with a photographer's files is making
the thumbnails. This times :func:`blurwatch.thumbnails.make_thumbnails` cold (empty cache)
and warm (every thumbnail cached) on the benchmark corpus (``bench/corpus.py``: 24 MP
camera JPEGs, DNGs with a full-size JPEG preview, DNGs without a preview), and
extrapolates to 2,000 photos. Thumbnails are written under a temp folder, removed after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from blurwatch import thumbnails  # noqa: E402
from blurwatch.config import Config  # noqa: E402
from common import machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10, help="photos of each kind")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="thumbnail threads")
    args = parser.parse_args()
    files = corpus.build(corpus.CACHE, corpus.Spec(), args.n, corpus.KINDS, args.jobs)
    config = Config().replace(jobs=args.jobs)
    print(f"machine: {machine()}")
    print(f"{'kind':<12}{'cold s/photo':>14}{'warm s/photo':>14}{'2000 photos, cold':>20}   ({args.jobs} threads)")
    for kind, photos in files.items():
        with tempfile.TemporaryDirectory(prefix="blurwatch-bench-") as tmp:
            cold = timed(thumbnails.make_thumbnails, photos, Path(tmp) / "r.html.d", config)
            warm = timed(thumbnails.make_thumbnails, photos, Path(tmp) / "r.html.d", config)
        per_cold, per_warm = cold / len(photos), warm / len(photos)
        print(f"{kind:<12}{per_cold:>14.3f}{per_warm:>14.4f}{per_cold * 2000:>18.0f} s")
    return 0


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
