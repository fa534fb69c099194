"""How fast the watch daemon answers: latency for one big photo, throughput in a burst.

    .venv/bin/python bench/daemon_latency.py [--latency-n 20] [--burst-n 500] [--jobs N]

1. Latency: an idle daemon with the default quiet period; a 24 MP JPEG is written
   into the watched folder (open, write, close), and the time from that close to the
   sidecar's mtime is taken, N times. Target: median <= 1 s.
2. Throughput: ``blurwatch --once`` on a folder of ``--burst-n`` real photos (at their
   own sizes, the team's development set repeated), then the same files copied in a
   burst into a folder an idle daemon watches, timed from the first copy to the last
   sidecar. Target: the daemon within 10 % of ``--once``. The peak resident memory of
   the daemon's processes during the burst is printed too.

Photos come from ../shared/data/photos (never copied into the repository); everything
is written under a temp folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from common import machine

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BLURWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-n", type=int, default=20, help="24 MP photos written one by one")
    parser.add_argument("--burst-n", type=int, default=500, help="photos in the burst")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: one per core)")
    args = parser.parse_args()
    if not (SHARED / "photos" / "manifest.csv").is_file():
        print(f"the team's photos are not at {SHARED}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="blurwatch-bench-") as tmp:
        work = Path(tmp)
        if args.latency_n:
            latency(work / "latency", args.latency_n, args.jobs)
        if args.burst_n:
            throughput(work / "burst", args.burst_n, args.jobs)
    return 0


def latency(work: Path, n: int, jobs: int) -> None:
    big = make_24mp(work / "source")
    folder = work / "watched"
    folder.mkdir(parents=True)
    data = big.read_bytes()
    times = []
    with Daemon(folder, work, jobs) as daemon:
        for i in range(n):
            photo = folder / f"DSC_{i:04}.jpg"
            with open(photo, "wb") as f:
                f.write(data)
            closed = time.time()
            times.append(wait_sidecar(photo, daemon) - closed)
            time.sleep(0.5)
        scored = daemon.scored()
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"latency, file closed -> sidecar written, 24 MP JPEG ({len(data) / 1e6:.1f} MB), idle daemon, "
          f"default quiet_seconds, n={n}: median {statistics.median(times):.3f} s, p95 {p95:.3f} s, "
          f"min {ordered[0]:.3f} s, max {ordered[-1]:.3f} s; scoring itself (worker) median "
          f"{statistics.median(scored):.3f} s")


def throughput(work: Path, n: int, jobs: int) -> None:
    sources = real_photos(n)
    once_dir = work / "once"
    once_dir.mkdir(parents=True)
    for i, src in enumerate(sources):
        shutil.copyfile(src, once_dir / f"IMG_{i:04}{src.suffix.lower()}")
    command = [sys.executable, "-m", "blurwatch", "--once", str(once_dir), "--config", str(write_config(work, jobs))]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True)
    once_seconds = time.monotonic() - started
    summary = re.search(r"(\d+) photos in ([\d.]+) s", proc.stderr)
    print(f"--once, {n} photos: {once_seconds:.1f} s wall ({n / once_seconds:.2f} photos/s)"
          + (f"; its own count: {summary[0]}" if summary else f"; stderr: {proc.stderr[-300:]}"))

    folder = work / "watched"
    folder.mkdir()
    with Daemon(folder, work, jobs) as daemon:
        peak = PeakMemory(daemon.proc.pid)
        started_wall = time.time()
        photos = [folder / f"IMG_{i:04}{src.suffix.lower()}" for i, src in enumerate(sources)]
        for src, photo in zip(sources, photos, strict=True):
            shutil.copyfile(src, photo)
        copied = time.time() - started_wall
        last = max(wait_sidecar(photo, daemon, timeout=1800) for photo in photos)
        peak.stop()
    seconds = last - started_wall
    print(f"daemon burst, {n} photos: {seconds:.1f} s from first copy to last sidecar "
          f"({n / seconds:.2f} photos/s; copying took {copied:.1f} s); "
          f"{100 * (seconds - once_seconds) / once_seconds:+.1f} % time vs --once; "
          f"peak memory of the daemon and its workers {peak.peak / 2**20:.0f} MiB")


class Daemon:
    """``blurwatch watch`` with the default config but for its state folder, until the with-block ends."""

    def __init__(self, folder: Path, work: Path, jobs: int) -> None:
        self.log = work / f"daemon-{folder.name}.log"
        config = write_config(work / folder.name, jobs)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "blurwatch", "watch", str(folder), "--config",
                                          str(config)], stdout=out, stderr=subprocess.STDOUT)

    def __enter__(self) -> Daemon:
        deadline = time.monotonic() + 120
        while "watching" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        time.sleep(2)  # let the workers finish loading the model
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)

    def scored(self) -> list[float]:
        return [float(s) for s in re.findall(r": (?:keep|review|reject).* in ([\d.]+) s$", self.log.read_text(), re.M)]


class PeakMemory:
    """Samples the summed RSS of a process and its children every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, sum(_rss(p) for p in _family(self.pid)))


def _family(pid: int) -> list[int]:
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
    family, todo = [], [pid]
    while todo:
        current = todo.pop()
        family.append(current)
        todo += children.get(current, [])
    return family


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def wait_sidecar(photo: Path, daemon: Daemon, timeout: float = 60) -> float:
    """The sidecar's mtime (when the daemon's worker wrote it), waiting for it to appear."""
    sidecar = photo.with_name(photo.name + ".xmp")
    deadline = time.monotonic() + timeout
    while not sidecar.exists():
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{sidecar}: never written\n{daemon.log.read_text()[-2000:]}")
        time.sleep(0.005)
    return sidecar.stat().st_mtime


def write_config(work: Path, jobs: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    config.write_text(f"jobs: {jobs}\nwatch:\n  state_dir: {str(work / 'state')!r}\n")
    return config


def make_24mp(out: Path) -> Path:
    """A 6000x4000 JPEG made from the largest sharp photo of the development set."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in _manifest() if r["label"] == "sharp"]
    biggest = max(rows, key=lambda r: int(r["width"] or 0) * int(r["height"] or 0))
    image = cv2.imread(str(SHARED / "photos" / biggest["relpath"]), cv2.IMREAD_COLOR)
    if image.shape[0] > image.shape[1]:
        image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    image = cv2.resize(image, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    path = out / "big.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def real_photos(n: int) -> list[Path]:
    """``n`` photos of the development set at their own sizes, repeated as needed."""
    photos = [SHARED / "photos" / r["relpath"] for r in _manifest()]
    return [photos[i % len(photos)] for i in range(n)]


def _manifest() -> list[dict[str, str]]:
    with open(SHARED / "photos" / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    sys.exit(main())
