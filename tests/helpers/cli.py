"""Running the real ``blurwatch`` program in a subprocess, and the real photos it is run on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import SHARED_DATA

RAW_STUB = "raw/NEF/exiftool__Nikon.nef"  # metadata only: cannot be decoded
DNG = "raw/DNG/tinydng__colorchart.dng"


def blurwatch(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m blurwatch`` with a clean environment (no user config, not under systemd)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    clean["XDG_CONFIG_HOME"] = str(Path(__file__).parent / "no-such-config-home")
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "blurwatch", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=clean, cwd=cwd, stdin=subprocess.DEVNULL,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def manifest(label: str, count: int) -> list[str]:
    """The first ``count`` of the team's photos labelled ``label``, as paths under ../shared/data."""
    rows = (SHARED_DATA / "photos" / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [f"photos/{row.split(',')[0]}" for row in rows if row.split(",")[1] == label][:count]


def build_folder(folder: Path, with_broken: bool) -> None:
    """A few real photos, a RAW+JPEG pair, a hidden file and optionally an undecodable RAW."""
    folder.mkdir(parents=True)
    for relpath in manifest("sharp", 2) + manifest("blurry_natural", 1) + manifest("dark", 1):
        shutil.copy2(SHARED_DATA / relpath, folder / Path(relpath).name)
    shutil.copy2(SHARED_DATA / manifest("sharp", 3)[2], folder / "IMG_0001.jpg")
    shutil.copy2(SHARED_DATA / DNG, folder / "IMG_0001.DNG")
    shutil.copy2(SHARED_DATA / manifest("sharp", 1)[0], folder / ".hidden.jpg")
    if with_broken:
        shutil.copy2(SHARED_DATA / RAW_STUB, folder / "broken.nef")
