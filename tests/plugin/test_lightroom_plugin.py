"""blurwatch.lrplugin against a fake Lightroom SDK, in Lua 5.1 as in Lightroom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from luahost import HERE, LIGHTROOM_PLUGIN, FakeStore, fake_executable, photo_files, py_list, runtime


class Lightroom:
    """One Lightroom session: the fake SDK, the plug-in's folder on the module path."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = FakeStore(tmp_path / "store.json")
        monkeypatch.setenv("BLURWATCH_FAKE_STORE", str(self.store.path))
        self.lua = runtime("lua51")
        self.fake = self.lua.eval(f"dofile({str(HERE / 'fake_lightroom.lua')!r})")
        lua_globals = self.lua.globals()
        for name, value in self.fake.globals.items():
            lua_globals[name] = value
        lua_globals.package.path = f"{LIGHTROOM_PLUGIN}/?.lua"
        (tmp_path / "temp").mkdir()
        self.fake.temp_dir = str(tmp_path / "temp")
        self.fake.prefs.executable = str(fake_executable(tmp_path))
        self.cull = self.lua.eval('require "BlurwatchCull"')

    def select(self, *paths: Path) -> list[Any]:
        photos = [self.fake.add_photo(str(path)) for path in paths]
        self.fake.selected = self.lua.table_from(photos)
        return photos

    def choose_menu_item(self) -> None:
        self.lua.eval(f"dofile({str(LIGHTROOM_PLUGIN / 'CullMenuItem.lua')!r})")

    def state(self, photo: Any) -> tuple[int, str, list[str]]:
        return photo.pickStatus, photo.colorNameForLabel, py_list(self.fake.keyword_paths(photo))

    def dialog(self) -> Any:
        return self.fake.dialogs[len(self.fake.dialogs)]


@pytest.fixture
def lightroom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lightroom:
    return Lightroom(tmp_path, monkeypatch)


def test_cull_menu_item_flags_rejects_labels_reviews_and_adds_keywords(lightroom: Lightroom, tmp_path: Path) -> None:
    blurry, doubtful, fine, broken = photo_files(tmp_path / "p", "a.dng", "b.jpg", "c.jpg", "d.cr2")
    lightroom.store.score(blurry, "reject", ("blurry", "dark"))
    lightroom.store.score(doubtful, "review", ("blurry",))
    lightroom.store.score(fine, "keep", rating=4)
    lightroom.store.broken(broken, "cannot decode: metadata-only stub")
    photos = lightroom.select(blurry, doubtful, fine, broken)

    lightroom.choose_menu_item()

    assert [lightroom.state(photo) for photo in photos] == [
        (-1, "none", ["blurwatch|blurry", "blurwatch|dark"]),
        (0, "yellow", ["blurwatch|blurry", "blurwatch|review"]),
        (0, "none", []),
        (0, "none", []),
    ]
    assert lightroom.store.calls() == [["--once", "--json", *(str(p) for p in (blurry, doubtful, fine, broken))]]
    dialog = lightroom.dialog()
    assert dialog.kind == "info"
    assert dialog.message.splitlines() == ["1 kept, 1 to review, 1 rejected, 1 failed.",
                                           f"{broken}: cannot decode: metadata-only stub"]
    assert lightroom.fake.write_blocks == 1 and lightroom.fake.progress.done_calls == 1
    assert not list((tmp_path / "temp").iterdir()), "temporary files are removed"


def test_culling_again_changes_nothing(lightroom: Lightroom, tmp_path: Path) -> None:
    (photo_path,) = photo_files(tmp_path / "p", "a.jpg")
    lightroom.store.score(photo_path, "review", ("blurry",))
    (photo,) = lightroom.select(photo_path)

    lightroom.choose_menu_item()
    first = lightroom.state(photo)
    lightroom.choose_menu_item()

    assert lightroom.state(photo) == first == (0, "yellow", ["blurwatch|blurry", "blurwatch|review"])


def test_a_new_verdict_withdraws_the_old_flag_and_label_unless_the_user_changed_them(lightroom: Lightroom,
                                                                                      tmp_path: Path) -> None:
    was_rejected, was_reviewed, user_flagged = photo_files(tmp_path / "p", "r.jpg", "v.jpg", "f.jpg")
    lightroom.store.score(was_rejected, "reject", ("dark",))
    lightroom.store.score(was_reviewed, "review", ("blurry",))
    lightroom.store.score(user_flagged, "reject", ("blurry",))
    photos = lightroom.select(was_rejected, was_reviewed, user_flagged)
    lightroom.choose_menu_item()
    photos[2].pickStatus = 1  # the user picks it anyway

    for path in (was_rejected, was_reviewed, user_flagged):
        lightroom.store.score(path, "keep")
    lightroom.choose_menu_item()

    assert [lightroom.state(photo) for photo in photos] == [(0, "none", []), (0, "none", []), (1, "none", [])]


def test_cull_runs_in_batches_and_stops_when_cancelled(lightroom: Lightroom, tmp_path: Path) -> None:
    paths = photo_files(tmp_path / "p", *(f"{i:02}.jpg" for i in range(20)))
    for path in paths:
        lightroom.store.score(path, "reject", ("blurry",))
    photos = lightroom.select(*paths)
    lightroom.fake.cancel_after = 1

    lightroom.choose_menu_item()

    assert sum(photo.pickStatus == -1 for photo in photos) == lightroom.cull.BATCH == 8
    assert len(lightroom.store.calls()) == 1


def test_awkward_file_names_reach_blurwatch_intact(lightroom: Lightroom, tmp_path: Path) -> None:
    paths = photo_files(tmp_path / "odd folder", "it's.jpg", "$(touch pwned).jpg", "a;b&c.jpg", "写真.jpg")
    for path in paths:
        lightroom.store.score(path, "reject", ("blurry",))
    photos = lightroom.select(*paths)

    lightroom.choose_menu_item()

    assert lightroom.store.calls()[0][2:] == [str(p) for p in paths]
    assert all(photo.pickStatus == -1 for photo in photos)
    assert not list(tmp_path.rglob("pwned"))


def test_on_windows_the_command_is_quoted_for_cmd(lightroom: Lightroom) -> None:
    lightroom.lua.globals().WIN_ENV = True
    lightroom.fake.prefs.executable = r"C:\Program Files\blurwatch\blurwatch.exe"

    command = lightroom.cull.command(lightroom.lua.table_from([r"D:\Photos\a b.jpg"]), r"C:\T\o.jsonl", r"C:\T\e.txt")

    assert command == (r'""C:\Program Files\blurwatch\blurwatch.exe" --once --json "D:\Photos\a b.jpg"'
                       r' >"C:\T\o.jsonl" 2>"C:\T\e.txt""')


def test_a_missing_blurwatch_program_is_reported(lightroom: Lightroom, tmp_path: Path) -> None:
    (path,) = photo_files(tmp_path / "p", "a.jpg")
    (photo,) = lightroom.select(path)
    lightroom.fake.prefs.executable = str(tmp_path / "nowhere" / "blurwatch")

    lightroom.choose_menu_item()

    dialog = lightroom.dialog()
    assert dialog.kind == "critical"
    assert "nowhere/blurwatch" in dialog.message and "not found" in dialog.message
    assert lightroom.state(photo) == (0, "none", [])


def test_info_lua_declares_the_library_menu_item(lightroom: Lightroom) -> None:
    info = lightroom.lua.eval(f"dofile({str(LIGHTROOM_PLUGIN / 'Info.lua')!r})")

    item = info.LrLibraryMenuItems[1]
    assert item.title == "Cull with blurwatch"
    assert item.enabledWhen == "photosSelected"
    assert (LIGHTROOM_PLUGIN / item.file).is_file()
    assert (LIGHTROOM_PLUGIN / info.LrPluginInfoProvider).is_file()


def test_plugin_manager_section_edits_the_executable_preference(lightroom: Lightroom) -> None:
    provider = lightroom.lua.eval(f"dofile({str(LIGHTROOM_PLUGIN / 'PluginInfoProvider.lua')!r})")
    factory = lightroom.lua.eval("""setmetatable({}, {__index = function(_, kind)
        return function(self, props) props.kind = kind; return props end end})""")

    (section,) = py_list(provider.sectionsForTopOfDialog(factory, lightroom.lua.table_from({})))

    assert lightroom.lua.eval("rawequal")(section.bind_to_object, lightroom.fake.prefs)
    field = section[1][2]
    assert (field.kind, field.value.bind_to) == ("edit_field", "executable")


def test_a_bursts_pick_gets_the_pick_flag_and_loses_it_when_the_pick_moves(lightroom: Lightroom,
                                                                          tmp_path: Path) -> None:
    first, second = photo_files(tmp_path / "p", "a1.jpg", "a2.jpg")
    lightroom.store.score(first, "keep", group=("burst", "a1-00", True, 2))
    lightroom.store.score(second, "review", ("burst",), group=("burst", "a1-00", False, 2))
    photos = lightroom.select(first, second)

    lightroom.choose_menu_item()

    assert [lightroom.state(photo) for photo in photos] == [
        (1, "none", ["blurwatch|burst", "blurwatch|pick"]),
        (0, "yellow", ["blurwatch|burst", "blurwatch|review"]),
    ]

    lightroom.store.score(first, "review", ("burst",), group=("burst", "a1-00", False, 3))  # a sharper late frame
    lightroom.choose_menu_item()

    assert lightroom.state(photos[0]) == (0, "yellow", ["blurwatch|burst", "blurwatch|review"])
