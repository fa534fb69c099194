"""How long merging a verdict into a sidecar takes as darktable's edit history grows.

    .venv/bin/python bench/sidecar_merge.py [--steps 100 250 500 1000 4000] [--repeat 3]

Each sidecar is darktable's own (tests/fixtures/sidecars) with a history of that many
steps (ten properties each), written beside a photo; the time is one
:func:`blurwatch.sidecar.write_verdict` (read, check, merge, verify through exiv2,
replace), best of ``--repeat`` runs, each on a fresh copy. The target: a 1,000-step
history in at most 1 s (exiv2's own writer took 29 s, and grew with the square of the
size).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the made-up histories are shared with the tests

from blurwatch import sidecar  # noqa: E402
from blurwatch.config import SidecarConfig  # noqa: E402
from common import machine  # noqa: E402
from helpers.results import photo_result  # noqa: E402
from helpers.sidecars import darktable_history  # noqa: E402


def merge_seconds(steps: int, repeat: int) -> tuple[float, int]:
    """Best time of one merge into a ``steps``-step history, and the sidecar's size in bytes."""
    data = darktable_history(steps)
    best = float("inf")
    with tempfile.TemporaryDirectory(prefix="blurwatch-bench-") as tmp:
        photo = Path(tmp) / "IMG_0001.jpg"
        photo.write_bytes(b"a photo")
        for _ in range(repeat):
            photo.with_name(photo.name + ".xmp").write_bytes(data)
            started = time.perf_counter()
            sidecar.write_verdict(photo, photo_result(photo), SidecarConfig())
            best = min(best, time.perf_counter() - started)
    return best, len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 250, 500, 1000, 4000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'history steps':>14}{'sidecar KiB':>13}{'merge s':>10}")
    for steps in args.steps:
        seconds, size = merge_seconds(steps, args.repeat)
        print(f"{steps:>14}{size / 1024:>13.0f}{seconds:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
