"""blurwatch.lua in real darktable (4.2), headless under xvfb-run, with the real blurwatch program.

Each darktable run gets a throwaway library, config and cache folder, the plugin installed
there by ``blurwatch plugin install darktable``'s own code (so the plugin runs the
blurwatch program it recorded, with no preference set), and a luarc that loads the
plugin, starts the work, waits for it, writes what the library shows (dt_probe.lua) and
quits; it is killed (its own process group only) if it outlives
DARKTABLE_TIMEOUT. What the library shows is read twice: through the Lua API and from
library.db with sqlite3.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blurwatch.commands.plugin import install_darktable
from conftest import SHARED_DATA, requires_program, requires_shared
from luahost import HERE

pytestmark = [pytest.mark.integration, pytest.mark.slow, requires_program("darktable"), requires_program("xvfb-run")]

DARKTABLE_TIMEOUT = 60  # seconds for one darktable run
QUIT_GRACE = 10  # seconds darktable gets to quit once it has written its report
START_TIMEOUT = 15  # seconds until the luarc's first call into darktable's interface returns
START_ATTEMPTS = 3
BLURWATCH_TIMEOUT = 240  # seconds for one `blurwatch --once` on a handful of photos
MODEL = Path(__file__).resolve().parents[2] / "daemon" / "blurwatch" / "models" / "sharpness.tflite"

# Real photos of each kind (relative to the shared photos folder), copied per test.
PHOTOS = [
    "sharp/denoisds-sunhays__wheat_field_sun_azmzksauruixhpsp.jpg",
    "sharp/denoisds-sunhays__balcony_interior_sun_bammhtthmkjntkqh.jpg",
    "bokeh_sharp/cuhk-son__out_of_focus0607.jpg",
    "blurry_natural/pmp__26.blurred.jpg",
    "blurry_natural/kwentar__176_HONOR-7X_M.jpg",
    "dark/afifi__a0964-20061224_140610__E6B7217_N1.5.JPG",
    "overexposed/afifi__a2192-IMG_2045_P1.5.JPG",
]

# -- running things -------------------------------------------------------------------------


def blurwatch_program() -> Path:
    """The blurwatch program of the environment running the tests."""
    beside_python = Path(sys.executable).with_name("blurwatch")
    return beside_python if beside_python.exists() else Path(shutil.which("blurwatch") or "blurwatch")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for blurwatch and darktable: no user configuration leaks in."""
    (tmp_path / "xdg-config").mkdir()
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "HOME": str(tmp_path)}


def run_blurwatch(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    done = subprocess.run([str(blurwatch_program()), *args], env=env, capture_output=True, text=True,
                          timeout=BLURWATCH_TIMEOUT)
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def lua_string(text: str) -> str:
    assert "]==]" not in text
    return f"[==[{text}]==]"


@dataclass
class Darktable:
    """A darktable set up in ``work``: library, config (with the plugin linked in), cache."""

    work: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.work / "config"

    @property
    def library(self) -> Path:
        return self.work / "library.db"

    def run(self, body: str, plugin: bool = True, watch_folders: str = "") -> dict[str, Any]:
        """Run Lua ``body`` in darktable; the probe's report (``probe.finish(OUT, extra)``).

        The body runs in a background thread, so darktable's events and the plugin go on
        while it polls. darktable 4.2 can deadlock at start-up when a Lua thread calls into
        GTK (dt.database.import, dt.gui.action...) just before its main loop starts (it then
        runs the call on the calling thread and waits for itself; its own luarc and any
        script's start-up code can hit this too). Before the body, the luarc waits for the
        interface to idle and makes one harmless such call, the canary; a run stuck before
        the canary returned has done nothing yet and is started again.
        """
        install_darktable(self.config)
        report, started = self.work / "report.json", self.work / "started"
        (self.config / "luarc").write_text(self._luarc(body, plugin, watch_folders, report, started),
                                           encoding="utf-8")
        for attempt in range(1, START_ATTEMPTS + 1):
            report.unlink(missing_ok=True)
            started.unlink(missing_ok=True)
            if self._launch(report, started):
                break
            warnings.warn(f"darktable deadlocked while starting (attempt {attempt}); started again", stacklevel=2)
        else:
            pytest.fail(f"darktable deadlocked while starting {START_ATTEMPTS} times")
        result = json.loads(report.read_text(encoding="utf-8"))
        assert "error" not in result["extra"], result["extra"]
        return result

    def _launch(self, report: Path, started: Path) -> bool:
        """One darktable run; False when it got stuck before the canary returned.

        It is given DARKTABLE_TIMEOUT for the work and QUIT_GRACE to quit once the report
        is written: darktable 4.2 asked to quit from Lua now and then never leaves its main
        loop (seen under load); the work is stored by then, and darktable removes a dead
        process's stale lock on the next start.
        """
        log = self.work / "darktable.log"
        # -a takes the first free display from -n on; a random start keeps parallel runs
        # (other tests' darktable or chromium) from racing for the same one
        display = str(random.randint(200, 5000))
        command = ["xvfb-run", "-a", "-n", display, "darktable", "--library", str(self.library),
                   "--configdir", str(self.config), "--cachedir", str(self.work / "cache"), "-d", "lua"]
        begun = time.monotonic()
        reported = None
        with open(log, "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                       start_new_session=True)
            try:
                while process.poll() is None:
                    now = time.monotonic()
                    if not started.exists() and now - begun > START_TIMEOUT:
                        return False
                    if reported is None and report.exists():
                        reported = now
                    if reported is not None and now - reported > QUIT_GRACE:
                        break
                    if now - begun > DARKTABLE_TIMEOUT:
                        pytest.fail(f"darktable did not finish within {DARKTABLE_TIMEOUT} s; "
                                    f"log: {log.read_text(errors='replace')[-3000:]}")
                    time.sleep(0.2)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)  # xvfb-run, Xvfb, darktable: this run's group only
                    process.wait()
        assert report.exists(), f"darktable wrote no report; log: {log.read_text(errors='replace')[-3000:]}"
        return True

    def _luarc(self, body: str, plugin: bool, watch_folders: str, report: Path, started: Path) -> str:
        load = 'require "blurwatch/blurwatch"' if plugin else ""
        return f"""
local dt = require "darktable"
local OUT = {lua_string(str(report))}
dt.preferences.write("blurwatch", "watch_folders", "string", {lua_string(watch_folders)})
local probe = dofile({lua_string(str(HERE / "dt_probe.lua"))})
local imported_films = 0
dt.register_event("test_probe", "post-import-film", function() imported_films = imported_films + 1 end)
dt.register_event("test_probe", "shortcut", function() end, "blurwatch test canary")
{load}
dt.control.dispatch(function()
  local ok, err = pcall(function()
    assert(probe.wait_for_gui(30), "darktable's interface did not come up")
    dt.gui.action("lua/blurwatch test canary", 0, "", "", 1.0)
    probe.touch({lua_string(str(started))})
{body}
  end)
  if not ok then probe.finish(OUT, {{error = tostring(err)}}) end
end)
"""

    def shown_in_database(self) -> dict[str, tuple[int, bool, list[str]]]:
        """Per photo path: (rating, yellow, blurwatch tags), read from library.db and data.db."""
        with sqlite3.connect(self.library) as db:
            db.execute("ATTACH DATABASE ? AS data", (str(self.config / "data.db"),))
            paths = {imgid: path for imgid, path in db.execute(
                "SELECT i.id, f.folder || '/' || i.filename FROM images i JOIN film_rolls f ON i.film_id = f.id")}
            flags = dict(db.execute("SELECT id, flags FROM images"))
            yellow = {imgid for (imgid,) in db.execute("SELECT imgid FROM color_labels WHERE color = 1")}
            tags: dict[int, list[str]] = {imgid: [] for imgid in paths}
            for imgid, name in db.execute("SELECT ti.imgid, t.name FROM main.tagged_images ti "
                                          "JOIN data.tags t ON t.id = ti.tagid WHERE t.name LIKE 'blurwatch|%'"):
                tags[imgid].append(name)
        return {path: (-1 if flags[i] & 8 else flags[i] & 7, i in yellow, sorted(tags[i])) for i, path in paths.items()}


def shown_through_lua(report: dict[str, Any]) -> dict[str, tuple[int, bool, list[str]]]:
    return {image["path"]: (image["rating"], image["yellow"],
                            sorted(t for t in image["tags"] if t.startswith("blurwatch|")))
            for image in report["images"]}


def expected(stored: dict[str, Any]) -> tuple[int, bool, list[str]]:
    """What darktable must show for a stored verdict (plugins/README.md's mapping)."""
    verdict = stored["verdict"]
    if verdict is None:
        return 1, False, []
    rating = stored["rating"] if stored["rating"] is not None else 1
    if verdict == "reject" and not stored["rating_is_manual"]:
        rating = -1
    tags = [f"blurwatch|{reason}" for reason in stored["reasons"]]
    if verdict == "review":
        tags.append("blurwatch|review")
    return rating, verdict == "review", sorted(tags)


@pytest.fixture
def darktable(tmp_path: Path, env: dict[str, str]) -> Darktable:
    return Darktable(tmp_path / "dt", env)


def copy_photos(folder: Path, relpaths: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for relpath in relpaths:
        copy = folder / Path(relpath).name
        shutil.copyfile(SHARED_DATA / "photos" / relpath, copy)
        copies.append(copy)
    return copies


needs_model = pytest.mark.skipif(not MODEL.exists(), reason=f"the sharpness model is not built yet ({MODEL})")

# -- tests ----------------------------------------------------------------------------------


def test_plugin_loads_and_destroy_unregisters_everything(darktable: Darktable) -> None:
    body = """
  local script = require "blurwatch/blurwatch"
  local before = dt.gui.libs["blurwatch"] ~= nil and dt.gui.libs["blurwatch"].visible
  script.destroy()
  -- every name the plugin registered is free again (darktable refuses a name twice)
  local free = {}
  for _, entry in ipairs({{"blurwatch", "post-import-image"}, {"blurwatch", "post-import-film"},
                          {"blurwatch_rescan", "shortcut"}, {"blurwatch_cull", "shortcut"}}) do
    local ok = pcall(dt.register_event, entry[1], entry[2], function() end, "probe " .. entry[1])
    free[#free + 1] = ok
  end
  probe.finish(OUT, {visible_before = before, visible_after = dt.gui.libs["blurwatch"].visible, free = free})
"""
    report = darktable.run(body, plugin=False)

    assert report["extra"] == {"visible_before": True, "visible_after": False, "free": [True] * 4}


@requires_shared
@needs_model
@pytest.mark.parametrize("plugin", [False, True], ids=["darktable alone", "with the plugin"])
def test_a_folder_scored_before_import_shows_blurwatchs_verdicts(darktable: Darktable, env: dict[str, str],
                                                                 tmp_path: Path, plugin: bool) -> None:
    folder = tmp_path / "card"
    copy_photos(folder, PHOTOS)
    run_blurwatch(env, "--once", "--json", str(folder))
    stored = {record["path"]: record for record in run_blurwatch(env, "verdict", "--json", str(folder))}
    assert len({record["verdict"] for record in stored.values()}) >= 2, f"too uniform to test: {stored}"
    scored = sum(record["verdict"] is not None for record in stored.values())

    report = darktable.run(f"""
  dt.database.import({lua_string(str(folder))})
  probe.wait_until(function() return imported_films > 0 and #dt.database >= {len(PHOTOS)} end, 30)
  probe.wait_until(function() return {str(not plugin).lower()} or probe.count_marked() >= {scored} end, 30)
  probe.finish(OUT)
""", plugin=plugin)

    want = {path: expected(record) for path, record in stored.items()}
    assert shown_through_lua(report) == want
    assert darktable.shown_in_database() == want
    for photo in folder.glob("*.xmp"):  # darktable rewrote them: the plugin's marker stays inside darktable
        assert "darktable|blurwatch" not in photo.read_text(encoding="utf-8")

    # Culled again after darktable rewrote every sidecar: nothing to write, nobody's rating "set by hand".
    rewritten = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.xmp")}
    assert all(b"darktable:xmp_version" in data for data, _ in rewritten.values())
    again = run_blurwatch(env, "--once", "--json", str(folder))
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.xmp")} == rewritten
    assert not [record["path"] for record in again if record.get("rating_is_manual")]
    assert not [r["path"] for r in run_blurwatch(env, "verdict", "--json", str(folder)) if r.get("rating_is_manual")]


@requires_shared
@needs_model
def test_photos_imported_before_scoring_get_their_verdicts_through_rescan(darktable: Darktable, env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    early = copy_photos(folder, PHOTOS[:5])
    first = darktable.run(f"""
  dt.database.import({lua_string(str(folder))})
  probe.wait_until(function() return imported_films > 0 and #dt.database >= {len(early)} end, 30)
  dt.control.sleep(1500) -- the plugin asks blurwatch, which knows no verdict yet
  probe.finish(OUT)
""")
    assert all(state == (1, False, []) for state in shown_through_lua(first).values())

    late = copy_photos(folder, PHOTOS[5:])  # new photos arrive in the watch folder
    run_blurwatch(env, "--once", "--json", str(folder))
    stored = {record["path"]: record for record in run_blurwatch(env, "verdict", "--json", str(folder))}
    scored = sum(record["verdict"] is not None for record in stored.values())
    # darktable wrote its default 1 star into the early photos' sidecars; blurwatch must
    # not take it for a judgement, or these rejects would stay at 1 star.
    early_rejects = [record for path, record in stored.items() if Path(path) in early and record["verdict"] == "reject"]
    assert early_rejects and not any(record["rating_is_manual"] for record in early_rejects)

    report = darktable.run(f"""
  dt.gui.action("lua/blurwatch: rescan", 0, "", "", 1.0)
  local everything = {len(early) + len(late)}
  probe.wait_until(function() return #dt.database >= everything and probe.count_marked() >= {scored} end, 40)
  probe.finish(OUT)
""", watch_folders=str(folder))

    want = {path: expected(record) for path, record in stored.items()}
    assert shown_through_lua(report) == want
    assert darktable.shown_in_database() == want


@requires_shared
@needs_model
def test_cull_selected_scores_the_selection_and_shows_the_verdicts(darktable: Darktable, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    folder = tmp_path / "card"
    copy_photos(folder, PHOTOS)
    report = darktable.run(f"""
  dt.database.import({lua_string(str(folder))})
  probe.wait_until(function() return imported_films > 0 and #dt.database >= {len(PHOTOS)} end, 30)
  local all = {{}}
  for _, image in ipairs(dt.database) do all[#all + 1] = image end
  dt.gui.selection(all)
  dt.gui.action("lua/blurwatch: cull selected", 0, "", "", 1.0)
  probe.wait_until(function() return probe.count_marked() >= {len(PHOTOS)} end, 60)
  probe.finish(OUT)
""")

    stored = {record["path"]: record for record in run_blurwatch(env, "verdict", "--json", str(folder))}
    assert all(record["verdict"] is not None for record in stored.values()), stored
    assert {record["verdict"] for record in stored.values()} >= {"reject", "keep"}
    want = {path: expected(record) for path, record in stored.items()}
    assert shown_through_lua(report) == want
    assert darktable.shown_in_database() == want
