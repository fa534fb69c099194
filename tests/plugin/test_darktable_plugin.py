"""blurwatch.lua against a fake darktable API: apply, rescan, cull, manual ratings, destroy.

The fake (fake_darktable.lua) mimics darktable 4.2's Lua API where the plugin depends
on it; test_darktable_real.py checks the same plugin in real darktable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from luahost import DARKTABLE_PLUGIN, HERE, FakeStore, fake_executable, lua_list, photo_files, py_list, runtime


class Darktable:
    """One darktable session: the fake API with the plugin loaded."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, view: str = "lighttable",
                 api: str = "9.0.0") -> None:
        self.store = FakeStore(tmp_path / "store.json")
        monkeypatch.setenv("BLURWATCH_FAKE_STORE", str(self.store.path))
        self.lua = runtime("lua54")
        self.fake = self.lua.eval(f"dofile({str(HERE / 'fake_darktable.lua')!r})")
        self.dt = self.fake.dt
        self.fake.view = view
        self.dt.configuration.api_version_string = api
        preload = self.lua.eval("function(fake) return function() return fake.dt end end")
        self.lua.globals().package.preload["darktable"] = preload(self.fake)
        self.set_pref("executable", str(fake_executable(tmp_path)))
        self.fake.list_files = self._list_files
        self.script: Any = None

    def _list_files(self, folder: str) -> Any:
        files = sorted((str(path.parent), path.name) for path in Path(folder).rglob("*") if path.is_file())
        return self.lua.table_from([self.lua.table_from(pair) for pair in files])

    def load(self) -> Any:
        self.script = self.lua.eval(f"dofile({str(DARKTABLE_PLUGIN)!r})")
        return self.script

    def set_pref(self, name: str, value: Any) -> None:
        self.fake.prefs[f"blurwatch/{name}"] = value

    def add_image(self, photo: Path, **props: Any) -> Any:
        return self.fake.add_image(str(photo.parent), photo.name, self.lua.table_from(props))

    def image(self, photo: Path) -> Any:
        return self.fake.find_image(str(photo.parent), photo.name)

    def tags(self, image: Any) -> list[str]:
        return sorted(py_list(self.fake.tag_names(image, "blurwatch|")))

    def markers(self, image: Any) -> list[str]:
        return py_list(self.fake.tag_names(image, "darktable|blurwatch|"))

    def select(self, *images: Any) -> None:
        self.dt.gui.action_images = lua_list(self.lua, list(images))

    def messages(self) -> list[str]:
        return py_list(self.fake.messages)

    def errors(self) -> list[str]:
        return py_list(self.fake.errors)

    def import_folder(self, folder: Path) -> None:
        """What the user's import dialog does (`import` is a Python keyword, hence the Lua)."""
        self.lua.eval("function(dt, path) dt.database.import(path) end")(self.dt, str(folder))

    def rescan(self) -> None:
        self.fake.shortcut("blurwatch: rescan")

    def cull(self) -> None:
        self.fake.shortcut("blurwatch: cull selected")


@pytest.fixture
def darktable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Darktable:
    session = Darktable(tmp_path, monkeypatch)
    session.load()
    return session


def state(darktable: Darktable, image: Any) -> tuple[int, bool, list[str]]:
    return image.rating, image.yellow, darktable.tags(image)


# -- import -------------------------------------------------------------------------------


def test_import_applies_the_verdicts_blurwatch_stored_once_per_film(darktable: Darktable, tmp_path: Path) -> None:
    folder = tmp_path / "card"
    blurry, doubtful, fine, unscored = photo_files(folder, "a.jpg", "b.jpg", "c.jpg", "d.jpg")
    (folder / "a.jpg.xmp").write_text("sidecars are not photos")
    darktable.store.store(blurry, "reject", ("blurry",))
    darktable.store.store(doubtful, "review", ("blurry",))
    darktable.store.store(fine, "keep", rating=3)

    darktable.import_folder(folder)

    assert state(darktable, darktable.image(blurry)) == (-1, False, ["blurwatch|blurry"])
    assert state(darktable, darktable.image(doubtful)) == (1, True, ["blurwatch|blurry", "blurwatch|review"])
    assert state(darktable, darktable.image(fine)) == (3, False, [])
    assert state(darktable, darktable.image(unscored)) == (1, False, [])
    assert darktable.markers(darktable.image(unscored)) == []
    verdict_calls = [call for call in darktable.store.calls() if call[0] == "verdict"]
    assert len(verdict_calls) == 1 and len(verdict_calls[0]) == 2 + 4


def test_virtual_copies_of_a_photo_all_get_its_verdict(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "dark.jpg")
    original, copy = darktable.add_image(photo), darktable.add_image(photo)
    darktable.store.store(photo, "reject", ("dark",))
    darktable.dt.collection = lua_list(darktable.lua, [original, copy])

    darktable.rescan()

    assert state(darktable, original) == state(darktable, copy) == (-1, False, ["blurwatch|dark"])


# -- apply: idempotent, stale tags, labels --------------------------------------------------


def test_applying_the_same_verdict_again_changes_nothing(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "x.jpg")
    image = darktable.add_image(photo)
    darktable.store.store(photo, "reject", ("blurry", "dark"))
    darktable.dt.collection = lua_list(darktable.lua, [image])

    darktable.rescan()
    first = (state(darktable, image), darktable.markers(image))
    image.yellow = True  # the user's own label, set after blurwatch's verdict
    darktable.rescan()

    assert (state(darktable, image), darktable.markers(image)) == ((first[0][0], True, first[0][2]), first[1])
    assert darktable.markers(image) == ["darktable|blurwatch|reject+blurry+dark@-1|-1"]
    assert darktable.messages()[-1].endswith("0 new verdicts applied")


def test_a_changed_verdict_replaces_tags_and_withdraws_reject_and_review_label(darktable: Darktable,
                                                                              tmp_path: Path) -> None:
    rejected, reviewed = photo_files(tmp_path / "p", "r.jpg", "v.jpg")
    images = [darktable.add_image(rejected), darktable.add_image(reviewed)]
    darktable.dt.collection = lua_list(darktable.lua, images)
    darktable.store.store(rejected, "reject", ("blurry", "overexposed"))
    darktable.store.store(reviewed, "review", ("blurry",))
    darktable.rescan()

    darktable.store.store(rejected, "keep")
    darktable.store.store(reviewed, "reject", ("dark",))
    darktable.rescan()

    assert state(darktable, images[0]) == (1, False, [])
    assert state(darktable, images[1]) == (-1, False, ["blurwatch|dark"])


def test_a_keep_with_a_rating_from_blurwatch_sets_those_stars(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "k.jpg")
    image = darktable.add_image(photo)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.store.store(photo, "keep", rating=4)

    darktable.rescan()

    assert image.rating == 4


# -- manual ratings -------------------------------------------------------------------------


def test_a_rating_changed_by_hand_after_the_verdict_is_kept(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "m.jpg")
    image = darktable.add_image(photo)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.store.store(photo, "reject", ("blurry",))
    darktable.rescan()
    assert image.rating == -1

    image.rating = 4  # the user disagrees
    darktable.store.store(photo, "reject", ("blurry", "dark"))  # re-scored: a new verdict
    darktable.rescan()

    assert state(darktable, image) == (4, False, ["blurwatch|blurry", "blurwatch|dark"])


def test_overwrite_manual_ratings_preference_replaces_them(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "m.jpg")
    image = darktable.add_image(photo)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.store.store(photo, "reject", ("blurry",))
    darktable.rescan()
    image.rating = 4

    darktable.set_pref("overwrite_manual", True)
    darktable.rescan()  # same verdict, but the rating drifted from what was applied

    assert image.rating == -1


def test_a_rating_blurwatch_found_set_by_hand_in_the_sidecar_is_kept(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "s.jpg")
    image = darktable.add_image(photo, rating=3)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.store.store(photo, "reject", ("dark",), rating=3, manual=True)

    darktable.rescan()

    assert state(darktable, image) == (3, False, ["blurwatch|dark"])


# -- rescan ---------------------------------------------------------------------------------


def test_rescan_imports_new_photos_of_watch_folders_and_updates_their_library_images(
        darktable: Darktable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watched, elsewhere = tmp_path / "watched", tmp_path / "elsewhere"
    (known,) = photo_files(watched, "known.jpg")
    (new,) = photo_files(watched / "day2", "new.jpg")
    (outside,) = photo_files(elsewhere, "o.jpg")
    known_image, outside_image = darktable.add_image(known), darktable.add_image(outside)
    for photo in (known, new, outside):
        darktable.store.store(photo, "reject", ("blurry",))
    monkeypatch.setenv("HOME", str(tmp_path))
    darktable.set_pref("watch_folders", f" {watched / 'day2'}/ ;~/watched")

    darktable.rescan()

    assert darktable.image(new) is not None, "the new photo was imported"
    assert darktable.image(new).rating == -1
    assert known_image.rating == -1
    assert outside_image.rating == 1, "images outside the watch folders are left alone"


def test_rescan_button_in_the_lighttable_module(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "b.jpg")
    image = darktable.add_image(photo)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.store.store(photo, "review", ("blurry",))

    darktable.fake.click("blurwatch", "rescan")

    assert image.yellow is True


# -- cull -----------------------------------------------------------------------------------


def test_cull_scores_the_selection_and_applies_the_verdicts_in_one_run(darktable: Darktable, tmp_path: Path) -> None:
    sharp, blurry, broken = photo_files(tmp_path / "p", "s.jpg", "b.jpg", "x.jpg")
    images = [darktable.add_image(p) for p in (sharp, blurry, broken)]
    darktable.store.score(sharp, "keep")
    darktable.store.score(blurry, "reject", ("blurry",))
    darktable.store.broken(broken, "cannot decode: truncated JPEG")
    darktable.select(*images)

    darktable.cull()

    assert [state(darktable, image) for image in images] == [(1, False, []), (-1, False, ["blurwatch|blurry"]),
                                                             (1, False, [])]
    assert darktable.store.calls() == [["--once", "--json", str(sharp), str(blurry), str(broken)]]
    assert darktable.messages()[-1] == "blurwatch: 1 kept, 0 to review, 1 rejected, 1 failed; 2 new verdicts applied"
    assert any("truncated JPEG" in error for error in darktable.errors())
    assert not darktable.fake.jobs[1].valid, "the job is finished"


def test_cull_keeps_a_rating_blurwatch_found_set_by_hand(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "a.jpg")
    image = darktable.add_image(photo)
    image.rating = 4
    darktable.store.store(photo, "keep", rating=4, manual=True)  # the sidecar holds the photographer's 4 stars
    darktable.store.score(photo, "reject", ("blurry",))
    darktable.select(image)

    darktable.cull()

    assert state(darktable, image) == (4, False, ["blurwatch|blurry"])
    assert [call[0] for call in darktable.store.calls()] == ["--once"]


def test_a_keep_with_darktables_default_star_leaves_the_rating_alone(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "a.jpg")
    image = darktable.add_image(photo)
    image.rating = 3  # given here; darktable was set not to write sidecars, which still say 1
    darktable.store.store(photo, "keep", rating=1)  # blurwatch: darktable's default, not set by hand

    darktable.rescan()

    assert image.rating == 3


def test_cull_runs_in_batches_and_stops_when_cancelled(darktable: Darktable, tmp_path: Path) -> None:
    photos = photo_files(tmp_path / "p", *(f"{i:02}.jpg" for i in range(20)))
    for photo in photos:
        darktable.store.score(photo, "reject", ("dark",))
    darktable.select(*(darktable.add_image(p) for p in photos))
    darktable.fake.cancel_after = 1  # the user presses cancel during the first batch

    darktable.cull()

    once_calls = [call for call in darktable.store.calls() if call[0] == "--once"]
    assert len(once_calls) == 1 and len(once_calls[0]) == 2 + 8
    assert sum(darktable.image(p).rating == -1 for p in photos) == 8


def test_cull_without_a_selection_says_so(darktable: Darktable) -> None:
    darktable.cull()
    assert darktable.messages() == ["blurwatch: select the photos to cull first"]
    assert darktable.store.calls() == []


def test_awkward_file_names_reach_blurwatch_intact(darktable: Darktable, tmp_path: Path) -> None:
    names = ["it's a photo.jpg", "$(touch pwned).jpg", "semi;colon & amp.jpg", "ünïcødé 写真.jpg", "back\\slash.jpg"]
    photos = photo_files(tmp_path / "odd folder", *names)
    for photo in photos:
        darktable.store.score(photo, "reject", ("blurry",))
    darktable.select(*(darktable.add_image(p) for p in photos))

    darktable.cull()

    assert darktable.store.calls()[0][2:] == [str(p) for p in photos]
    assert all(darktable.image(p).rating == -1 for p in photos)
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_a_missing_blurwatch_program_is_reported_not_crashed(darktable: Darktable, tmp_path: Path) -> None:
    (photo,) = photo_files(tmp_path / "p", "a.jpg")
    darktable.select(darktable.add_image(photo))
    darktable.set_pref("executable", str(tmp_path / "no" / "blurwatch"))

    darktable.cull()

    assert darktable.messages() == [f"blurwatch: program {tmp_path / 'no' / 'blurwatch'} not found "
                                    "(preferences > lua options)"]


def test_output_that_is_not_json_is_logged_and_skipped(darktable: Darktable, tmp_path: Path) -> None:
    script = tmp_path / "noisy"
    (photo,) = photo_files(tmp_path / "p", "a.jpg")
    script.write_text(f"#!/bin/sh\necho 'Traceback (most recent call last):'\n"
                      f"echo '{{\"path\": \"{photo}\", \"verdict\": \"reject\", \"reasons\": [\"dark\"]}}'\n")
    script.chmod(0o755)
    image = darktable.add_image(photo)
    darktable.dt.collection = lua_list(darktable.lua, [image])
    darktable.set_pref("executable", str(script))

    darktable.rescan()

    assert image.rating == -1
    assert any("Traceback" in error for error in darktable.errors())


# -- lifecycle ------------------------------------------------------------------------------


def test_destroy_leaves_nothing_registered_and_restart_brings_it_back(darktable: Darktable) -> None:
    assert darktable.fake.registered_count() == 4  # 2 import events, 2 shortcuts
    darktable.script.destroy()
    assert darktable.fake.registered_count() == 0
    assert darktable.dt.gui.libs["blurwatch"].visible is False

    darktable.script.restart()
    assert darktable.fake.registered_count() == 4
    assert darktable.dt.gui.libs["blurwatch"].visible is True
    darktable.script.destroy()
    assert darktable.fake.registered_count() == 0


def test_the_module_appears_when_darkroom_users_enter_the_lighttable(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    session = Darktable(tmp_path, monkeypatch, view="darkroom")
    session.load()
    assert session.dt.gui.libs["blurwatch"] is None
    assert session.fake.registered_count() == 5  # and view-changed, to install the module later

    session.fake.fire("view-changed", session.dt.gui.views.darkroom, session.dt.gui.views.lighttable)

    assert session.dt.gui.libs["blurwatch"].visible is True
    session.script.destroy()
    assert session.fake.registered_count() == 0


def test_an_older_darktable_is_refused_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Darktable(tmp_path, monkeypatch, api="8.0.0")
    with pytest.raises(Exception, match="Lua API 9.0.0 or later required"):
        session.load()
    assert session.fake.registered_count() == 0
