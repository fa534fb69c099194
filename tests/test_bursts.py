"""Grouping and the group rule on frames made by hand: no photo, no sidecar."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from blurwatch import bursts
from blurwatch.bursts import Frame, Membership
from blurwatch.capture import Capture
from blurwatch.config import BurstConfig, SidecarConfig
from helpers.results import photo_result

CONFIG = BurstConfig()
ALIKE = "c3b1e0f08e8f0f0f"
ALIKE_TOO = "c3b1e0f08e8f0f1e"  # 2 bits off
OTHER = "3c4e1f0f71f0f0f0"  # 32+ bits off
FOLDER = Path("/shoot")


def frame(name: str, taken: float, likeness: str = ALIKE, sharpness: float = 0.5, *, camera: str = "Canon R6 #1",
          ev: float = 0.0, rejected: bool = False, **facts: object) -> Frame:
    capture = Capture(camera=camera, taken=taken, clock="exif", likeness=likeness, **facts)  # type: ignore[arg-type]
    return Frame(FOLDER / f"{name}.jpg", capture, sharpness, ev, rejected)


def names(groups: list[bursts.Group]) -> list[tuple[str, list[str], str]]:
    return [(g.kind, [p.stem for p in g.photos], g.best.stem) for g in groups]


def test_a_burst_is_grouped_and_its_sharpest_frame_is_the_pick() -> None:
    frames = [frame("a1", 0.0, sharpness=0.2), frame("a2", 0.2, ALIKE_TOO, 0.9), frame("a3", 0.4, sharpness=0.3)]

    assert names(bursts.group(frames, CONFIG)) == [("burst", ["a1", "a2", "a3"], "a2")]


def test_frames_that_do_not_look_alike_are_not_grouped_however_close_in_time() -> None:
    frames = [frame("a1", 0.0), frame("x", 0.1, OTHER), frame("a2", 0.3)]

    assert names(bursts.group(frames, CONFIG)) == [("burst", ["a1", "a2"], "a1")]  # x alone; a1, a2 across it


def test_a_gap_longer_than_the_setting_splits_bursts() -> None:
    frames = [frame("a1", 0.0), frame("a2", 1.5), frame("b1", 4.0), frame("b2", 5.0)]

    assert [g[1] for g in names(bursts.group(frames, CONFIG))] == [["a1", "a2"], ["b1", "b2"]]
    assert bursts.group(frames, BurstConfig(gap_seconds=0.9)) == []


def test_frames_of_other_cameras_clocks_or_folders_never_group() -> None:
    frames = [frame("a1", 0.0), frame("a2", 0.2, camera="Canon R6 #2"),
              dataclasses.replace(frame("a3", 0.4), capture=Capture("Canon R6 #1", 0.4, "mtime", ALIKE)),
              dataclasses.replace(frame("a4", 0.6), photo=Path("/elsewhere/a4.jpg"))]

    assert bursts.group(frames, CONFIG) == []


def test_camera_burst_tags_join_or_split_frames() -> None:
    frames = [frame("g1", 0.0, burst_id="X"), frame("g2", 0.2, OTHER, burst_id="X"),  # the phone says: one burst
              frame("h1", 0.4, OTHER, burst_id="Y"), frame("h2", 0.6, OTHER, burst_id="Z")]  # alike, but two bursts
    sony = [frame("s1", 10.0, sequence_number=1), frame("s2", 10.1, OTHER, sequence_number=2)]

    assert [g[1] for g in names(bursts.group(frames + sony, CONFIG))] == [["g1", "g2"], ["s1", "s2"]]


def test_ties_in_sharpness_go_to_the_better_exposed_frame_and_rejected_frames_are_not_picked() -> None:
    tie = [frame("t1", 0.0, sharpness=0.80, ev=1.4), frame("t2", 0.2, sharpness=0.79, ev=0.1)]
    dark = [frame("d1", 10.0, sharpness=0.95, rejected=True), frame("d2", 10.2, sharpness=0.7)]

    assert [g[2] for g in names(bursts.group(tie + dark, CONFIG))] == ["d2", "t2"]  # groups in name order


def test_auto_bracket_frames_are_brackets_cut_where_an_exposure_repeats() -> None:
    stops = [0, -2, 2, 0, -2, 2]
    frames = [frame(f"h{i}", i * 0.3, OTHER if stop == 2 else ALIKE, bias=float(stop), auto_bracket=True,
                    exposure=10.0 - stop) for i, stop in enumerate(stops)]  # +2 EV blown out: looks unlike

    assert names(bursts.group(frames, CONFIG)) == [("bracket", ["h0", "h1", "h2"], "h0"),
                                                   ("bracket", ["h3", "h4", "h5"], "h3")]


def test_stepping_exposure_settings_make_a_bracket_even_in_manual_mode() -> None:
    frames = [frame(f"m{i}", i * 0.5, exposure=ev) for i, ev in enumerate([8.0, 10.0, 12.0])]

    assert names(bursts.group(frames, CONFIG)) == [("bracket", ["m0", "m1", "m2"], "m1")]  # the middle exposure


def test_group_ids_are_the_same_in_every_frame_and_unique_per_group() -> None:
    frames = [frame("a1", 0.0), frame("a2", 0.2), frame("b1", 5.0), frame("b2", 5.2)]
    groups = bursts.group(frames, CONFIG)
    members = bursts.memberships(groups)

    assert len({g.id for g in groups}) == 2
    assert members[FOLDER / "a2.jpg"] == Membership("burst", groups[0].id, 2, False)
    assert bursts.group(frames, CONFIG) == groups  # the same frames give the same ids: re-runs change nothing


@pytest.mark.parametrize(("others", "own", "want"), [
    ("review", "keep", ("review", ("burst",))),
    ("review", "review", ("review", ("blurry", "burst"))),
    ("review", "reject", ("reject", ("blurry", "dark"))),  # its own verdict is worse: it stays
    ("reject", "keep", ("reject", ("burst",))),
    ("unchanged", "keep", ("keep", ())),
])
def test_the_other_frames_of_a_burst(others: str, own: str, want: tuple[str, tuple[str, ...]]) -> None:
    config = BurstConfig(others=others)  # type: ignore[arg-type]
    other = Membership("burst", "x", 5, best=False)

    decided = bursts.decide(photo_result(decision=own), other, config, SidecarConfig())

    assert (decided.verdict.decision, decided.verdict.reasons) == want
    assert decided.rating == (-1 if want[0] == "reject" else None)
    assert bursts.decide(photo_result(decision=own), dataclasses.replace(other, best=True), config,
                         SidecarConfig()).verdict.decision == own


@pytest.mark.parametrize(("own", "reasons", "score", "want"), [
    ("reject", ("dark",), 0.9, ("keep", ())),
    ("reject", ("overexposed",), 0.5, ("review", ("blurry",))),  # the sharpness band it was in decides
    ("reject", ("blurry", "dark"), 0.1, ("reject", ("blurry",))),  # blur still rejects
    ("keep", (), 0.9, ("keep", ())),
])
def test_a_bracket_frame_is_never_culled_for_its_exposure(own: str, reasons: tuple[str, ...], score: float,
                                                          want: tuple[str, tuple[str, ...]]) -> None:
    result = photo_result(decision=own, reasons=reasons, score=score)
    decided = bursts.decide(result, Membership("bracket", "h", 3, False), CONFIG, SidecarConfig())

    assert (decided.verdict.decision, decided.verdict.reasons) == want
    assert decided.rating == (-1 if want[0] == "reject" else None)
