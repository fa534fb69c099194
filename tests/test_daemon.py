"""The watch daemon as a real process on real folders: bursts, kill -9, signals, systemd.

Every test starts ``python -m blurwatch watch DIR --config cfg.yaml`` in its own
session (so that its worker processes can be found and none is left behind), with a
short quiet period, a temp state folder, and real photos downscaled to 800 px (the
meaning is the same as full size, the scoring much quicker).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from blurwatch import daemon as daemon_module
from blurwatch import sidecar, systemd
from blurwatch.job import Job
from blurwatch.sharpness import default_model_dir
from blurwatch.state import DB_NAME
from conftest import ROOT, SHARED_DATA, requires_program, requires_shared
from helpers import shoots

requires_model = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)
pytestmark = [requires_model, requires_shared]

QUIET = 0.5
SETTLE = 2.0
GRACE = 10.0
WAIT = 120.0  # ceiling for what should take seconds
VERDICT_LINE = re.compile(r"blurwatch\.daemon: (?P<path>/.+): (?P<verdict>keep|review|reject)(?: \(.*\))? in [\d.]+ s$",
                          re.M)
ERROR_LINE = re.compile(r" ERROR blurwatch\.daemon: (?P<path>/[^:]+): ", re.M)
BROKEN_RAWS = ["CR2/exiftool__CanonRaw.cr2", "ORF/filetype__fixture.orf", "ARW/filetype__fixture-sony-zv-e10.arw",
               "NEF/exiftool__Nikon.nef", "CR3/filetype__fixture.cr3"]
DARKTABLE_SIDECARS = ROOT / "tests" / "fixtures" / "sidecars"


# ---------------------------------------------------------------- photos and the daemon process


@pytest.fixture(scope="session")
def small_jpegs(tmp_path_factory) -> list[Path]:
    """80 real photos of every label as JPEGs of at most 800 px."""
    out = tmp_path_factory.mktemp("jpeg800")
    with open(SHARED_DATA / "photos" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    random.Random(4).shuffle(rows)
    photos = []
    for i, row in enumerate(rows[:80]):
        image = cv2.imread(str(SHARED_DATA / "photos" / row["relpath"]), cv2.IMREAD_COLOR)
        scale = min(1.0, 800 / max(image.shape[:2]))
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        path = out / f"{i:03}_{row['label']}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        photos.append(path)
    return photos


def write_config(path: Path, state_dir: Path, **watch) -> Path:
    settings = {"quiet_seconds": QUIET, "settle_seconds": SETTLE, "stop_grace_seconds": GRACE, "queue_size": 4,
                "state_dir": str(state_dir), **watch}
    lines = ["jobs: 2", "watch:"] + [f"  {key}: {json.dumps(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Daemon:
    """One ``blurwatch watch`` process; its log goes to a file per run."""

    def __init__(self, folder: Path | None, config: Path, log: Path, env: dict[str, str] | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        """``folder`` None: the folders of the configuration, as the systemd unit runs it."""
        self.log_path = log
        environ = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET")}
        folders = [] if folder is None else [str(folder)]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [*wrap, sys.executable, "-m", "blurwatch", "watch", *folders, "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**environ, **(env or {})},
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            assert self.proc.poll() is None, f"daemon exited ({self.proc.returncode}):\n{self.log}"
            assert time.monotonic() < deadline, f"no {pattern!r} in the log:\n{self.log}"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = GRACE + 10) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def session(self) -> list[int]:
        """Processes still in this daemon's session: the daemon, its workers and helpers."""
        return [pid for pid in _pids() if _session_of(pid) == self.proc.pid]

    def cleanup(self) -> list[int]:
        """Kill whatever of this session survives; returns the pids that had to be killed."""
        deadline = time.monotonic() + 30  # orphaned workers finish their photo, then see EOF
        while [p for p in self.session() if p != self.proc.pid] and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        leaked = [p for p in self.session() if p != self.proc.pid]
        for pid in leaked:
            os.kill(pid, signal.SIGKILL)
        return leaked


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])


@pytest.fixture
def daemons():
    """Start daemons with ``daemons(folder, config, log)``; none outlives the test, none leaks a process."""
    started: list[Daemon] = []

    def start(folder: Path | None, config: Path, log: Path, env: dict[str, str] | None = None,
              wrap: tuple[str, ...] = ()) -> Daemon:
        started.append(Daemon(folder, config, log, env, wrap))
        return started[-1]

    yield start
    leaks = {d.proc.pid: d.cleanup() for d in started}
    assert not any(leaks.values()), f"processes left behind: {leaks}"


def rows(state_dir: Path) -> dict[str, tuple[str | None, str | None]]:
    """path -> (verdict, error) from the state database, read-only."""
    db = state_dir / DB_NAME
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT path, verdict, error FROM photos")
        return {path: (verdict, error) for path, verdict, error in rows}


def wait_rows(state_dir: Path, expected: set[str], daemon: Daemon, timeout: float = WAIT) -> dict:
    deadline = time.monotonic() + timeout
    while not expected <= set(found := rows(state_dir)):
        assert daemon.proc.poll() is None, f"daemon exited:\n{daemon.log}"
        assert time.monotonic() < deadline, f"never recorded: {sorted(expected - set(found))[:10]}...\n{daemon.log}"
        time.sleep(0.1)
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- how files arrive


def copy_plain(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)


def copy_via_temp(src: Path, dest: Path) -> None:
    """Browsers and cp-like tools: a .part name, renamed when complete."""
    temp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, temp)
    os.rename(temp, dest)


def copy_like_rsync(src: Path, dest: Path) -> None:
    """rsync: a hidden temp name in the same folder, renamed when complete."""
    temp = dest.with_name(f".{dest.name}.a1B2c3")
    shutil.copyfile(src, temp)
    os.rename(temp, dest)


def copy_slowly(src: Path, dest: Path, chunks: int = 5, pause: float = 0.1) -> None:
    """A slow card reader or network: the file grows in chunks, one open handle."""
    data = src.read_bytes()
    step = len(data) // chunks + 1
    with open(dest, "wb") as f:
        for start in range(0, len(data), step):
            f.write(data[start : start + step])
            f.flush()
            time.sleep(pause)


def write_burst(folder: Path, photos: list[Path], count: int) -> tuple[dict[Path, Path], list[Path]]:
    """Copy ``count`` photos in every way a copy happens, plus broken files; returns (copy -> source, broken)."""
    plan: dict[Path, Path] = {}
    for i in range(count):
        sub = folder / "2024" / f"day{i % 4}" if i % 3 == 2 else folder
        plan[sub / f"IMG_{i:04}.jpg"] = photos[i % len(photos)]
    broken = [folder / "broken_random.jpg", folder / "broken_empty.jpg", folder / "broken_truncated.jpg",
              folder / "2024" / "broken_half.jpg"]
    broken += [folder / f"broken_{Path(rel).name}" for rel in BROKEN_RAWS]
    return plan, broken


def run_burst(plan: dict[Path, Path], broken: list[Path], photos: list[Path]) -> None:
    """The copies, in two threads: quick ones, and slow ones that keep growing meanwhile."""
    targets = list(plan)
    slow = set(targets[5::25])
    ways = [copy_plain, copy_via_temp, copy_like_rsync]

    def quick() -> None:
        for i, dest in enumerate(targets):
            if i == len(targets) // 2:
                _write_broken(broken, photos)
            if dest not in slow:
                dest.parent.mkdir(parents=True, exist_ok=True)
                ways[i % len(ways)](plan[dest], dest)

    def slowly() -> None:
        for i, dest in enumerate(sorted(slow)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            # one of them pauses longer than the quiet period: read too early, it is a truncated JPEG
            copy_slowly(plan[dest], dest, pause=QUIET * 1.6 if i == 0 else 0.1)

    threads = [threading.Thread(target=quick), threading.Thread(target=slowly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _write_broken(broken: list[Path], photos: list[Path]) -> None:
    random_jpg, empty, truncated, half, *raws = broken
    random_jpg.write_bytes(random.Random(1).randbytes(50_000))
    empty.write_bytes(b"")
    data = photos[0].read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 5])
    half.parent.mkdir(parents=True, exist_ok=True)
    half.write_bytes(data[: len(data) // 2])
    for rel, dest in zip(BROKEN_RAWS, raws, strict=True):
        shutil.copyfile(SHARED_DATA / "raw" / rel, dest)


def exiftool_json(paths: list[Path]) -> list[dict]:
    proc = subprocess.run(["exiftool", "-j", "-q", "-XMP:all", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- the tests


@pytest.mark.integration
@requires_program("exiftool")
@pytest.mark.parametrize("count", [60, pytest.param(300, marks=pytest.mark.slow)])
def test_burst_with_kill_9_and_restart(tmp_path: Path, small_jpegs: list[Path], daemons, count: int) -> None:
    """Every good photo ends with one correct sidecar, broken files are reported once, nothing twice."""
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    config = write_config(tmp_path / "cfg.yaml", state)
    plan, broken = write_burst(folder, small_jpegs, count)
    sources = {src: sha256(src) for src in set(plan.values())}

    first = daemons(folder, config, tmp_path / "run1.log")
    first.wait_for(r"watching 1 folder")
    burst = threading.Thread(target=run_burst, args=(plan, broken, small_jpegs))
    burst.start()
    deadline = time.monotonic() + WAIT
    while len(VERDICT_LINE.findall(first.log)) < count // 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.proc.kill()  # kill -9 the daemon, mid-burst; its workers are orphaned
    first.proc.wait()
    time.sleep(0.3)
    second = daemons(folder, config, tmp_path / "run2.log")
    burst.join()

    expected = {str(p) for p in plan} | {str(p) for p in broken}
    wait_rows(state, expected, second)
    second.wait_for(r"watching 1 folder")
    status = subprocess.run([sys.executable, "-m", "blurwatch", "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert second.stop() == 0
    recorded = rows(state)  # after the stop: a burst decided meanwhile has revised its frames' verdicts
    logs = first.log + second.log

    # Each good photo: scored once (one verdict line over both runs), one sidecar agreeing with the state.
    verdict_lines = [m["path"] for m in VERDICT_LINE.finditer(logs)]
    assert sorted(verdict_lines) == sorted(str(p) for p in plan), "a photo was scored twice or never"
    for photo in plan:
        verdict, error = recorded[str(photo)]
        assert error is None, error
        assert [p.name for p in photo.parent.glob(photo.name + "*.xmp")] == [photo.name + ".xmp"]
        stored = sidecar.read_verdict(photo)
        assert stored is not None and stored.verdict == verdict
    # Each broken file: one error row, one error line, no sidecar.
    for path in broken:
        verdict, error = recorded[str(path)]
        assert verdict is None and error.startswith(f"{path}: ")
        assert [m["path"] for m in ERROR_LINE.finditer(logs)].count(str(path)) == 1, logs
        assert not list(path.parent.glob(path.name + "*.xmp"))
    # Nothing else was written, every sidecar parses, no original changed.
    sidecars = sorted(folder.rglob("*.xmp"))
    others = {p for p in folder.rglob("*") if p.is_file()} - set(sidecars) - set(plan) - set(broken)
    assert not others, f"stray files: {sorted(others)}"
    parsed = exiftool_json(sidecars)
    assert len(parsed) == len(plan) and not [p for p in parsed if "Error" in p or "Warning" in p]
    assert all(sha256(copy) == sources[src] for copy, src in plan.items())
    # blurwatch status read the same database.
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"today:     {count} scored" in status.stdout and f"{len(broken)} broken" in status.stdout


def test_sigterm_mid_burst_exits_0_without_partial_sidecars(tmp_path: Path, small_jpegs, daemons) -> None:
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    config = write_config(tmp_path / "cfg.yaml", state)
    daemon = daemons(folder, config, tmp_path / "run.log")
    daemon.wait_for(r"watching 1 folder")
    for i, photo in enumerate(small_jpegs[:40]):
        shutil.copyfile(photo, folder / f"IMG_{i:04}.jpg")
    daemon.wait_for(VERDICT_LINE.pattern)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < GRACE + 5
    assert re.search(r"stopped after scoring \d+ photo\(s\); \d+ left for the next start", daemon.log)
    # Whatever was finished is recorded and whole; nothing half-written is left.
    recorded = rows(state)
    sidecars = sorted(folder.glob("*.xmp"))
    assert {str(p.with_suffix("")) for p in sidecars} == {path for path, (verdict, _) in recorded.items() if verdict}
    assert all(p.suffix in (".jpg", ".xmp") for p in folder.iterdir()), sorted(folder.iterdir())
    assert all(sidecar.read_verdict(p.with_suffix("")) is not None for p in sidecars)
    assert 0 < len(sidecars) < 40
    status = subprocess.run([sys.executable, "-m", "blurwatch", "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and "stopped at" in status.stdout


def test_systemd_notify_reload_and_stop(tmp_path: Path, small_jpegs, daemons) -> None:
    """A fake NOTIFY_SOCKET hears READY, WATCHDOG, RELOADING+READY on SIGHUP, STOPPING; a bad config is kept out."""
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    (state / DB_NAME).write_bytes(b"garbage, not SQLite" * 100)  # a corrupt state database is not fatal
    config = write_config(tmp_path / "cfg.yaml", state)
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(WAIT)
        messages: list[str] = []

        def until(field: str) -> None:
            while field not in messages:
                messages.extend(listener.recv(4096).decode().split("\n"))

        daemon = daemons(folder, config, tmp_path / "run.log",
                         env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        until("READY=1")
        until("WATCHDOG=1")
        assert "rebuilt" in daemon.log

        # A second daemon on the same state folder refuses to start.
        second = subprocess.run([sys.executable, "-m", "blurwatch", "watch", str(folder), "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "another blurwatch daemon" in second.stderr

        # SIGHUP with a good new config: applied, and the worker pool rebuilt for its new queue.
        messages.clear()
        write_config(config, state, quiet_seconds=0.2, queue_size=8)
        daemon.proc.send_signal(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        daemon.wait_for("worker pool restarted")
        daemon.wait_for("configuration reloaded")

        # SIGHUP with a broken config: reported, the running one kept.
        messages.clear()
        config.write_text("watch:\n  quiet_seconds: -3\n")
        daemon.proc.send_signal(signal.SIGHUP)
        until("READY=1")
        daemon.wait_for(r"quiet_seconds: must be 0 or more seconds.*; keeping the running configuration")
        config.write_text("watch: [unclosed\n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(r"not valid YAML.*; keeping the running configuration")

        # A new state folder: its own lock and database from then on.
        moved = tmp_path / "state2"
        write_config(config, moved, quiet_seconds=0.2, queue_size=8)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("now keeping state in")

        # Still working, then stopping.
        shutil.copyfile(small_jpegs[0], folder / "after_reload.jpg")
        daemon.wait_for(r"after_reload\.jpg: (keep|review|reject)")
        assert str(folder / "after_reload.jpg") in wait_rows(moved, {str(folder / "after_reload.jpg")}, daemon)
        messages.clear()
        assert daemon.stop() == 0
        until("STOPPING=1")


def _can_limit_inotify() -> bool:
    probe = ["unshare", "-U", "-r", "sh", "-c", "echo 3 > /proc/sys/user/max_inotify_watches"]
    return shutil.which("unshare") is not None and subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_limit_inotify(), reason="cannot lower inotify limits in a user namespace here")
def test_out_of_inotify_watches_the_daemon_polls(tmp_path: Path, small_jpegs, daemons) -> None:
    """A user namespace allowing 3 inotify watches, a tree of 6 folders: a warning, then polling."""
    folder, state = tmp_path / "photos", tmp_path / "state"
    for sub in ("a/1", "a/2", "b/1", "b/2"):
        (folder / sub).mkdir(parents=True)
    config = write_config(tmp_path / "cfg.yaml", state, poll_interval=0.3)
    limit = ("unshare", "-U", "-r", "sh", "-c", 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$@"', "sh")
    daemon = daemons(folder, config, tmp_path / "run.log", wrap=limit)
    daemon.wait_for(r"watching 1 folder\(s\) with polling")
    assert re.search(rf"WARNING blurwatch\.watcher: {re.escape(str(folder))}: inotify watch limit reached", daemon.log)
    shutil.copyfile(small_jpegs[0], folder / "b" / "2" / "deep.jpg")
    daemon.wait_for(r"deep\.jpg: (keep|review|reject)")
    assert daemon.stop() == 0


def test_missing_folders_are_watched_for_and_a_reload_naming_one_keeps_the_daemon(tmp_path: Path, small_jpegs,
                                                                                  daemons) -> None:
    """A card not inserted yet, a share not mounted yet: warned about, watched for, scored once there."""
    here, card, share, state = tmp_path / "photos", tmp_path / "card", tmp_path / "share", tmp_path / "state"
    here.mkdir()
    config = write_config(tmp_path / "cfg.yaml", state, folders=[str(here), str(card)])
    daemon = daemons(None, config, tmp_path / "run.log")
    daemon.wait_for(rf"{re.escape(str(card))}: folder to watch does not exist; watching for it to appear")
    daemon.wait_for(r"watching 2 folder\(s\) with inotify")
    card.mkdir()
    shutil.copyfile(small_jpegs[0], card / "a.jpg")
    daemon.wait_for(r"card/a\.jpg: (keep|review|reject)")

    write_config(config, state, folders=[str(here), str(card), str(share)])  # SIGHUP naming a missing folder
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("configuration reloaded")
    daemon.wait_for(rf"{re.escape(str(share))}: folder to watch does not exist")
    shutil.copyfile(small_jpegs[1], here / "b.jpg")
    daemon.wait_for(r"photos/b\.jpg: (keep|review|reject)")

    shutil.rmtree(card)  # the card is pulled: the daemon goes on
    daemon.wait_for(rf"{re.escape(str(card))}: watched folder is gone; watching for it to come back")
    share.mkdir()
    shutil.copyfile(small_jpegs[2], share / "c.jpg")
    daemon.wait_for(r"share/c\.jpg: (keep|review|reject)")
    assert "inotify watch limit" not in daemon.log and "Traceback" not in daemon.log
    assert daemon.stop() == 0


def test_photos_whose_names_are_not_utf8_are_scored_and_remembered(tmp_path: Path, small_jpegs, daemons) -> None:
    """Such a name once killed the daemon at every start, in the state lookup."""
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    odd = folder / os.fsdecode(b"caf\xe9.jpg")
    newline = folder / "two\nlines.jpg"
    shutil.copyfile(small_jpegs[0], odd)
    shutil.copyfile(small_jpegs[1], newline)
    config = write_config(tmp_path / "cfg.yaml", state)
    daemon = daemons(folder, config, tmp_path / "run.log")
    daemon.wait_for(r"caf\\xe9\.jpg: (keep|review|reject)( \(.*\))? in ")
    daemon.wait_for(r"two\\nlines\.jpg: (keep|review|reject)( \(.*\))? in ")  # one entry, one line
    assert odd.with_name(odd.name + ".xmp").is_file() and newline.with_name(newline.name + ".xmp").is_file()
    assert daemon.stop() == 0
    again = daemons(folder, config, tmp_path / "again.log")
    again.wait_for(r"watching 1 folder")
    shutil.copyfile(small_jpegs[2], folder / "after.jpg")
    again.wait_for(r"after\.jpg: (keep|review|reject)")
    assert "caf" not in again.log and "Traceback" not in again.log  # remembered: not scored again
    assert again.stop() == 0


@pytest.mark.integration
@requires_program("exiftool")
def test_darktable_edits_in_existing_sidecars_are_kept(tmp_path: Path, small_jpegs, daemons) -> None:
    fixtures = sorted(DARKTABLE_SIDECARS.glob("darktable-*.jpg.xmp"))
    if not fixtures:
        pytest.skip(f"no darktable sidecar fixture in {DARKTABLE_SIDECARS}")
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    photo = folder / "IMG_0001.jpg"
    shutil.copyfile(small_jpegs[1], photo)
    own = folder / "IMG_0001.jpg.xmp"
    shutil.copyfile(fixtures[0], own)
    before = exiftool_json([own])[0]
    daemon = daemons(folder, write_config(tmp_path / "cfg.yaml", state), tmp_path / "run.log")
    daemon.wait_for(r"IMG_0001\.jpg: (keep|review|reject)")
    assert daemon.stop() == 0
    after = exiftool_json([own])[0]
    lost = {k for k, v in before.items() if not _kept(v, after.get(k))} - {"SourceFile", "XMPToolkit", "ModifyDate",
                                                                           "MetadataDate"}
    assert not lost, {k: (before[k], after.get(k)) for k in lost}  # history, labels, tags, the hand-set rating
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.rating == before["Rating"] and stored.rating_is_manual


@pytest.mark.slow
def test_a_5000_file_burst_keeps_memory_bounded(tmp_path: Path, small_jpegs, daemons) -> None:
    """The daemon holds paths, not images: its own memory stays flat while 5,000 photos arrive."""
    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    tiny = []
    for i, photo in enumerate(small_jpegs[:20]):
        image = cv2.imread(str(photo))
        path = tmp_path / f"tiny{i}.jpg"
        cv2.imwrite(str(path), cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA))
        tiny.append(path)
    daemon = daemons(folder, write_config(tmp_path / "cfg.yaml", state, queue_size=64), tmp_path / "run.log")
    daemon.wait_for(r"watching 1 folder")
    baseline = _rss(daemon.proc.pid)
    peak, stop = [baseline], threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak.append(_rss(daemon.proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        targets = [folder / f"d{i % 10}" / f"IMG_{i:05}.jpg" for i in range(5000)]
        for i, dest in enumerate(targets):
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(tiny[i % len(tiny)], dest)
        recorded = wait_rows(state, {str(p) for p in targets}, daemon, timeout=600)
    finally:
        stop.set()
        sampler.join()
    assert daemon.stop() == 0
    assert all(recorded[str(p)][0] for p in targets)
    assert max(peak) - baseline < 100 * 2**20, f"grew from {baseline / 2**20:.0f} to {max(peak) / 2**20:.0f} MiB"


def _kept(old: object, new: object) -> bool:
    """A value survived: equal, or a list that kept every item (blurwatch adds its own tags)."""
    if isinstance(old, list) and isinstance(new, list):
        return all(item in new for item in old)
    return old == new


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_the_watchdog_is_fed_while_workers_show_progress_and_starved_by_a_hung_one(monkeypatch, caplog) -> None:
    """Pinged from the loop, judged by each busy worker's last sign of progress: never by a side thread."""
    pings: list[float] = []
    watchdog = daemon_module._Watchdog(60.0)  # WatchdogSec=60: a ping due every 30 s
    job = Job((Path("/p/slow.CR2"),))

    def tick(now: float, silence: tuple[float, Job | None]) -> None:
        monkeypatch.setattr(systemd, "watchdog_ping", lambda: pings.append(now) or True)
        watchdog.tick(now, silence)

    tick(0.0, (0.0, None))  # idle
    tick(10.0, (9.0, job))  # not due yet
    tick(30.0, (2.0, job))  # a long job whose stages keep coming
    tick(60.0, (31.0, job))  # no stage for longer than a ping interval: hung
    assert pings == [0.0, 30.0]
    assert "/p/slow.CR2: its worker has shown no progress for 31 s; not pinging the systemd watchdog" in caplog.text


# ---------------------------------------------------------------- bursts


def _groups(folder: Path) -> dict[frozenset[str], tuple[str, str]]:
    """The groups the sidecars record: frame names -> (kind, the best frame's name)."""
    members: dict[str, list[tuple[str, bool]]] = {}
    kinds: dict[str, str] = {}
    for photo in folder.glob("*.jpg"):
        stored = sidecar.read_verdict(photo)
        if stored is not None and stored.group is not None:
            members.setdefault(stored.group.id, []).append((photo.name, stored.group.best))
            kinds[stored.group.id] = stored.group.kind
    return {frozenset(name for name, _ in frames): (kinds[group_id], next((n for n, best in frames if best), ""))
            for group_id, frames in members.items()}


def _wait_groups(folder: Path, want: object, daemon: Daemon, timeout: float = WAIT, key=dict) -> None:
    """Wait until the sidecars record ``want`` (``key=set``: only which frames group together)."""
    deadline = time.monotonic() + timeout
    while (found := key(_groups(folder))) != want:
        assert daemon.proc.poll() is None, f"daemon exited:\n{daemon.log}"
        assert time.monotonic() < deadline, f"groups {found} never became {want}\n{daemon.log}"
        time.sleep(0.2)


@pytest.mark.slow
def test_frames_copied_in_one_by_one_give_the_groups_of_once_across_a_late_frame_and_a_restart(
        tmp_path: Path, daemons) -> None:
    card = tmp_path / "card"
    made = shoots.shoot(card, SHARED_DATA, long_side=800)
    reference = tmp_path / "once"
    shutil.copytree(card, reference)
    assert subprocess.run([sys.executable, "-m", "blurwatch", "--once", str(reference)], capture_output=True,
                          timeout=WAIT).returncode == 0
    want = _groups(reference)
    assert sorted(kind for kind, _ in want.values()) == ["bracket", "burst", "burst"]

    folder, state = tmp_path / "photos", tmp_path / "state"
    folder.mkdir()
    config = write_config(tmp_path / "cfg.yaml", state)
    config.write_text(config.read_text() + "burst:\n  quiet_seconds: 1.0\n")
    late_pick = made.bursts["B"][1]  # the sharp frame of B arrives after B was decided without it
    after_restart = made.bursts["A"][0][-1]  # and a frame of A only once the daemon started again
    first = [p for p in sorted(card.glob("*.jpg")) if p not in (late_pick, after_restart)]
    random.Random(15).shuffle(first)

    daemon = daemons(folder, config, tmp_path / "run1.log")
    daemon.wait_for(r"watching 1 folder")
    for photo in first:
        shutil.copyfile(photo, folder / photo.name)
        time.sleep(0.15)
    held = {late_pick.name, after_restart.name}
    _wait_groups(folder, {frames - held for frames in want}, daemon, key=set)
    assert late_pick.name not in {best for _, best in _groups(folder).values()}
    shutil.copyfile(late_pick, folder / late_pick.name)  # B reopens: its pick moves to the late frame
    _wait_groups(folder, {frames - {after_restart.name}: best for frames, best in want.items()}, daemon)
    assert daemon.stop() == 0

    shutil.copyfile(after_restart, folder / after_restart.name)
    daemon = daemons(folder, config, tmp_path / "run2.log")
    _wait_groups(folder, want, daemon)
    assert daemon.stop() == 0
    for photo in reference.glob("*.jpg"):
        assert sidecar.read_verdict(folder / photo.name).verdict == sidecar.read_verdict(photo).verdict, photo.name
