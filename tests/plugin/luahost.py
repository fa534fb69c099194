"""Run the plugins' Lua inside pytest (lupa), against fake darktable / Lightroom APIs.

The blurwatch program is stood in for by fake_blurwatch.py, run through a real shell,
so the plugins' command lines and quoting are exercised for real.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

lupa = pytest.importorskip("lupa", reason="lupa (the [test] extra) runs the plugins' Lua in pytest")

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DARKTABLE_PLUGIN = ROOT / "daemon" / "blurwatch" / "plugins" / "darktable" / "blurwatch.lua"
LIGHTROOM_PLUGIN = ROOT / "daemon" / "blurwatch" / "plugins" / "lightroom" / "blurwatch.lrplugin"
FAKE_BLURWATCH = HERE / "fake_blurwatch.py"


def runtime(version: str = "lua54") -> Any:
    """A fresh Lua interpreter of that version (Lightroom runs 5.1, darktable 5.4)."""
    module = __import__(f"lupa.{version}", fromlist=["LuaRuntime"])
    return module.LuaRuntime(unpack_returned_tuples=True)


def fake_executable(tmp_path: Path) -> Path:
    """fake_blurwatch.py as an executable file (a checkout may have lost the x bit)."""
    if os.access(FAKE_BLURWATCH, os.X_OK):
        return FAKE_BLURWATCH
    copy = tmp_path / "fake_blurwatch.py"
    copy.write_bytes(FAKE_BLURWATCH.read_bytes())
    copy.chmod(copy.stat().st_mode | stat.S_IXUSR)
    return copy


class FakeStore:
    """The fake blurwatch's "sidecars": what scoring would give, and what is stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, Any]] = {"scores": {}, "broken": {}, "stored": {}}
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data), encoding="utf-8")

    def load(self) -> None:
        self.data = json.loads(self.path.read_text(encoding="utf-8"))

    def store(self, photo: Path | str, verdict: str, reasons: tuple[str, ...] = (), rating: int | None = None,
              manual: bool = False) -> None:
        """A verdict already in the photo's sidecar (as `blurwatch verdict --json` reports it)."""
        self.load()
        self.data["stored"][str(photo)] = record(verdict, reasons, rating, manual)
        self.save()

    def score(self, photo: Path | str, verdict: str, reasons: tuple[str, ...] = (), rating: int | None = None) -> None:
        """The verdict scoring the photo will give (`blurwatch --once`)."""
        self.load()
        self.data["scores"][str(photo)] = record(verdict, reasons, rating, False)
        self.save()

    def broken(self, photo: Path | str, message: str) -> None:
        self.load()
        self.data["broken"][str(photo)] = message
        self.save()

    def calls(self) -> list[list[str]]:
        calls = Path(f"{self.path}.calls")
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]


def record(verdict: str, reasons: tuple[str, ...], rating: int | None, manual: bool) -> dict[str, Any]:
    if rating is None and verdict == "reject":
        rating = -1
    return {"verdict": verdict, "reasons": list(reasons), "rating": rating, "rating_is_manual": manual}


def photo_files(folder: Path, *names: str) -> list[Path]:
    """Empty files standing for photos (the fake blurwatch never opens them)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(b"")
    return paths


def lua_list(lua: Any, values: list[Any]) -> Any:
    return lua.table_from(values)


def py_list(table: Any) -> list[Any]:
    """A Lua sequence as a Python list."""
    return [table[i] for i in range(1, len(table) + 1)]
