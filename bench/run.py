"""How fast blurwatch culls camera-sized photos, against the decode floor and the usual peer script.

    .venv/bin/python bench/run.py [--n 100] [--repeat 3] [--kinds jpeg raw-preview raw] [--jobs N]

For each kind of file (24 MP JPEG, 24 MP DNG with and without an embedded preview; see
corpus.py, which builds and caches them), the contenders run in one session on the
same files with the same number of processes, in turn, the order rotating with each
repeat:

- ``blurwatch``: ``blurwatch --once --json`` on the files, sidecars written (and
  removed again after the run), the per-photo split (decode / patches / network /
  exposure / group / write, timed inside its workers) from its JSON;
- ``floor``: floor.py, which only decodes each file the way blurwatch needs it;
- ``imread``: floor.py --full, the full-resolution grayscale decode as an OpenCV user
  writes it, ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` (JPEGs only);
- ``peer``: peer.py, full-resolution decode + variance of the Laplacian + threshold.

Every run first prints the machine: the CPU, its cores and the vector extensions the
network's speed depends on (``common.machine``).

Each is timed from launch to exit (start-up included), its processes' CPU time is
summed (user + system, from the kernel's accounting of reaped children), and the
memory of its whole process tree is sampled from /proc, two ways: the resident set
(RSS, which counts the pages of shared libraries once in every process, so its sum errs
high) and the proportional set (PSS, which shares such pages out among the processes
that map them: what the machine spends). Machines are noisy,
so the claim is the ratio between contenders measured side by side: the table shows
the median over the repeats. On a shared machine the CPU time is the steadier figure:
other people's work stretches wall time but hardly the CPU seconds a photo takes.

Files are read once beforehand so every contender finds them in the page cache, or,
with ``--cold``, dropped from it before every run (only these files, with
posix_fadvise) so every contender reads them from disk. The peer's full demosaic takes
seconds per RAW file, so it gets only the first ``--peer-raw-n`` of each RAW kind. The
start-up of one worker (import + model load + first inference) is timed apart, in
fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import corpus
from common import machine

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CONTENDERS = ("blurwatch", "floor", "imread", "peer")
JPEG_ONLY = frozenset({"imread"})
STAGES = ("decode", "patches", "network", "exposure", "group", "write")
SAMPLE_SECONDS = 0.05
# blurwatch's workers keep freed buffers for the next photo (workers._keep_freed_buffers);
# the floor gets the same malloc settings, through glibc's environment, to stay a floor.
FLOOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}
PAGE = os.sysconf("SC_PAGE_SIZE")

# What one blurwatch worker does before its first photo: import, load the models, first inference.
STARTUP_SCRIPT = """
from blurwatch import cli, workers
from blurwatch.pipeline import Models
import numpy
Models.load().sharpness.network.predict(numpy.zeros((1, 64, 64, 1), numpy.float32))
"""


@dataclass
class Run:
    """One contender over one kind's files."""

    contender: str
    kind: str
    repeat: int
    photos: int
    failed: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    peak_pss_mb: float
    stages_ms: dict[str, float] = field(default_factory=dict)  # in-process time per photo

    @property
    def per_photo_ms(self) -> float:
        return 1000 * self.seconds / max(1, self.photos)

    @property
    def cpu_per_photo_ms(self) -> float:
        return 1000 * self.cpu_seconds / max(1, self.photos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="photos of each kind (500 for the headline)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender; the median is shown")
    parser.add_argument("--kinds", nargs="+", choices=corpus.KINDS, default=list(corpus.KINDS))
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the corpus")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes, the same for everyone")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--peer-raw-n", type=int, default=20, help="RAW photos of each kind the peer gets")
    parser.add_argument("--cold", action="store_true", help="drop the files from the page cache before every run")
    parser.add_argument("--cache", type=Path, default=corpus.CACHE)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every run to FILE")
    args = parser.parse_args()
    spec = corpus.Spec(*map(int, args.size.split("x")))
    folders = corpus.build(args.cache, spec, args.n, args.kinds, args.jobs)
    load_before = os.getloadavg()[0]
    startup = startup_seconds() if "blurwatch" in args.contenders else None
    runs = benchmark(folders, args.contenders, args.repeat, args.jobs, args.cache, args.peer_raw_n, args.cold)
    print(f"blurwatch benchmark: {args.n} photos per kind at {spec.width}x{spec.height}, {args.jobs} processes "
          f"each, median of {args.repeat} runs; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"machine: {machine()}; {libraries()}")
    if startup is not None:
        print(f"start-up of one worker (import + model load + first inference): {startup:.2f} s")
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps({"startup_s": startup, "runs": [asdict(r) for r in runs]}, indent=1))
    return 0


def benchmark(folders: dict[str, list[Path]], contenders: list[str], repeat: int, jobs: int, cache: Path,
              peer_raw_n: int | None = None, cold: bool = False) -> list[Run]:
    """Every contender on every kind, ``repeat`` times, the order rotating each time."""
    config = cache / "empty-config.yaml"  # blurwatch's defaults, whatever the user's config says
    config.write_text("{}\n", encoding="utf-8")
    for files in folders.values():
        _read_all(files)
    runs = []
    for index in range(repeat):
        order = contenders[index % len(contenders):] + contenders[: index % len(contenders)]
        for kind, all_files in folders.items():
            for contender in order:
                if contender in JPEG_ONLY and kind != "jpeg":
                    continue
                files = all_files[:peer_raw_n] if contender == "peer" and kind != "jpeg" else all_files
                if cold:
                    _drop_from_cache(files)
                run = measure(contender, kind, index, files, jobs, config)
                print(f"run {index + 1}/{repeat} {kind:<12}{contender:<10}{run.seconds:7.2f} s"
                      f"{run.cpu_seconds:8.2f} CPU s{run.peak_rss_mb:7.0f} MB RSS{run.peak_pss_mb:7.0f} MB PSS",
                      file=sys.stderr)
                if run.photos != len(files) or run.failed:
                    raise SystemExit(f"{contender} handled {run.photos} of {len(files)} photos, {run.failed} failed")
                runs.append(run)
    return runs


def measure(contender: str, kind: str, repeat: int, files: list[Path], jobs: int, config: Path) -> Run:
    """Run one contender over ``files``: wall time, peak memory of its processes, its own figures."""
    folder = files[0].parent
    _remove_sidecars(folder)
    command = {
        "blurwatch": [sys.executable, "-m", "blurwatch", "--config", str(config), "-q",
                      "once", "--json", "--jobs", str(jobs)],
        "floor": [sys.executable, str(BENCH / "floor.py"), "--jobs", str(jobs)],
        "imread": [sys.executable, str(BENCH / "floor.py"), "--full", "--jobs", str(jobs)],
        "peer": [sys.executable, str(BENCH / "peer.py"), "--jobs", str(jobs)],
    }[contender] + [str(f) for f in files]
    with tempfile.TemporaryFile("w+") as out:
        cpu_before = _children_cpu()
        started = time.perf_counter()
        env = {**os.environ, **FLOOR_ENV} if contender == "floor" else None
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        peak = TreeMemory(process.pid)
        peak.start()
        _, stderr = process.communicate()
        seconds = time.perf_counter() - started
        cpu_seconds = _children_cpu() - cpu_before
        peak.stop()
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited with {process.returncode}:\n{stderr}")
        out.seek(0)
        stdout = out.read()
    _remove_sidecars(folder)
    photos, failed, stages = _figures(contender, stdout)
    return Run(contender, kind, repeat, photos, failed, seconds, cpu_seconds, peak.rss / 1e6, peak.pss / 1e6, stages)


def _children_cpu() -> float:
    """User + system seconds of every reaped child (and the children they reaped) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _figures(contender: str, stdout: str) -> tuple[int, int, dict[str, float]]:
    """Photos done, photos failed and in-process milliseconds per photo per stage, from a contender's output."""
    lines = stdout.splitlines()
    if contender == "peer":
        return len(lines), 0, {}
    if contender in ("floor", "imread"):
        summary = json.loads(lines[-1])
        return summary["photos"], 0, {"decode": 1000 * summary["decode"] / max(1, summary["photos"])}
    records = [json.loads(line) for line in lines]
    done = [r for r in records if "error" not in r]
    stages = {s: 1000 * sum(r["timings"][s] for r in done) / max(1, len(done)) for s in STAGES}
    return len(records), len(records) - len(done), stages


class TreeMemory(threading.Thread):
    """Samples the memory of a process and all its descendants; keeps the peaks of the sums (RSS and PSS)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.rss = 0
        self.pss = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            tree = _tree(self.pid)
            self.rss = max(self.rss, sum(_rss(pid) for pid in tree))
            self.pss = max(self.pss, sum(_pss(pid) for pid in tree))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from the parent pids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


def _pss(pid: int) -> int:
    """Bytes of the process's proportional set size (Linux 4.14+); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def libraries() -> str:
    """The versions that decide the speed: Python, LiteRT (the network), OpenCV (JPEG decoding), LibRaw."""
    from importlib import metadata

    import cv2
    import rawpy

    return (f"Python {sys.version.split()[0]}, LiteRT {metadata.version('ai-edge-litert')}, "
            f"OpenCV {cv2.__version__}, rawpy {rawpy.__version__} (LibRaw {'.'.join(map(str, rawpy.libraw_version))})")


def startup_seconds(times: int = 5) -> float:
    """Median wall time of a fresh process doing what a worker does before its first photo."""
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], check=True, cwd=ROOT)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _read_all(files: list[Path]) -> None:
    """Read every file once, so that no contender pays for the first read from disk."""
    for path in files:
        with path.open("rb") as file:
            while file.read(1 << 24):
                pass


def _drop_from_cache(files: list[Path]) -> None:
    """Evict ``files`` from the page cache (clean pages only, which these are), nothing else."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _remove_sidecars(folder: Path) -> None:
    for sidecar in folder.glob("*.xmp"):
        sidecar.unlink()


# --- The report ------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    """The medians per kind and contender, then the ratios the targets are about (Markdown)."""
    kinds = list(dict.fromkeys(r.kind for r in runs))
    contenders = list(dict.fromkeys(r.contender for r in runs))
    lines = [
        "",
        "| kind | contender | s per run | photos/s | ms per photo | CPU ms per photo | "
        + " | ".join(f"{stage} ms" for stage in STAGES) + " | peak RSS MB | peak PSS MB |",
        "|---|---|" + "---:|" * (6 + len(STAGES)),
    ]
    for kind in kinds:
        most = max(r.photos for r in runs if r.kind == kind)
        for contender in contenders:
            mine = [r for r in runs if r.kind == kind and r.contender == contender]
            if not mine:  # a JPEG-only contender on RAW files
                continue
            seconds = statistics.median(r.seconds for r in mine)
            photos = mine[0].photos
            label = contender if photos == most else f"{contender} ({photos} photos)"
            stages = [_median_stage(mine, s) for s in STAGES]
            cpu = statistics.median(r.cpu_per_photo_ms for r in mine)
            lines.append(f"| {kind} | {label} | {seconds:.1f} | {photos / seconds:.1f} | "
                         f"{1000 * seconds / photos:.0f} | {cpu:.0f} | " + " | ".join(stages) +
                         f" | {max(r.peak_rss_mb for r in mine):.0f} | {max(r.peak_pss_mb for r in mine):.0f} |")
    others = [c for c in contenders if c != "blurwatch"]
    if "blurwatch" in contenders and others:
        lines += ["", "ratios per photo, blurwatch / other, median of the per-repeat ratios (wall time; CPU time):",
                  "", "| kind | " + " | ".join(f"blurwatch / {c}" for c in others) + " |",
                  "|---|" + "---:|" * len(others)]
        for kind in kinds:
            lines.append(f"| {kind} | " + " | ".join(_ratios(runs, kind, c) for c in others) + " |")
    if "blurwatch" in contenders and {"jpeg", "raw-preview"} <= set(kinds):
        preview_vs_jpeg = _ratios(runs, "raw-preview", "blurwatch", "jpeg")
        lines += ["", f"blurwatch, RAW with preview / JPEG, per photo: {preview_vs_jpeg}"]
    return "\n".join(lines)


def _median_stage(runs: list[Run], stage: str) -> str:
    values = [r.stages_ms[stage] for r in runs if stage in r.stages_ms]
    return f"{statistics.median(values):.1f}" if values else ""


def _ratios(runs: list[Run], kind: str, other: str, against_kind: str | None = None) -> str:
    """"wall; CPU": medians over repeats of blurwatch's per-photo time on ``kind`` over ``other``'s."""
    wall, cpu = [], []
    for repeat in sorted({r.repeat for r in runs}):
        mine = _one(runs, "blurwatch", kind, repeat)
        theirs = _one(runs, other, against_kind or kind, repeat)
        if mine is None or theirs is None:
            return ""
        wall.append(mine.per_photo_ms / theirs.per_photo_ms)
        cpu.append(mine.cpu_per_photo_ms / theirs.cpu_per_photo_ms)
    return f"{statistics.median(wall):.2f}; {statistics.median(cpu):.2f}"


def _one(runs: list[Run], contender: str, kind: str, repeat: int) -> Run | None:
    return next((r for r in runs if r.contender == contender and r.kind == kind and r.repeat == repeat), None)


if __name__ == "__main__":
    raise SystemExit(main())
