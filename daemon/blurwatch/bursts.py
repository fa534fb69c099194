"""Bursts and brackets: which frames belong together, which one is the pick, what the others become.

Pure functions over per-frame facts (:class:`Frame`: how it was taken, from
:mod:`blurwatch.capture`, and the per-photo verdict); the burst stage
(:mod:`blurwatch.burst_stage`) feeds them and writes what they decide.

**Grouping.** Frames are compared only within one folder, one camera (make, model and
serial number) and one clock (EXIF time, or mtime for files without it). A frame joins
an earlier one taken at most ``burst.gap_seconds`` before it when the two look alike
(their likeness hashes differ in at most ``burst.likeness_bits`` of 64 bits; the last
:data:`LOOKBACK` frames are looked at, which bounds the work when thousands of files
without EXIF share one mtime second), or when
the camera says they are one run (the same Google ``BurstID``, consecutive Sony
``SequenceImageNumber``, both frames auto bracket: a +2 EV frame with blown highlights
may look unlike its -2 EV twin); different ``BurstID`` never join. Frames so joined, directly
or through others, are one group. Quick shots of different subjects and the frames of a
panorama do not look alike, so they stay apart however close in time.

**Brackets.** A group whose frames say auto bracket (``ExposureMode``), or whose
exposure compensation or exposure settings step, is exposure brackets, the inputs of an
HDR merge, not a burst: it is cut into brackets (a new one starts when an exposure
repeats), and a bracket frame is never rejected or sent to review as dark or
overexposed, nor as a lesser frame (blur still counts). The frame shown on top of a
bracket ("best") is its base exposure: compensation nearest 0, else the middle exposure.

**The pick.** The best frame of a burst is the sharpest, among the frames not rejected
when there are any; frames within :data:`SHARPNESS_TIE` of the sharpest count as equally
sharp, and the best exposed of those (mean nearest 0 EV) wins. The other frames keep
their own verdict when it is a reject; otherwise they become ``burst.others`` (review by
default, reason ``burst``: "you have a better frame of this"), keeping their own reasons.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from blurwatch import capture, verdict
from blurwatch.capture import Capture
from blurwatch.config import BurstConfig, SidecarConfig
from blurwatch.pipeline import PhotoResult
from blurwatch.verdict import Verdict

Kind = Literal["burst", "bracket"]
KINDS: tuple[Kind, ...] = ("burst", "bracket")
BURST_REASON = "burst"
EXPOSURE_REASONS = frozenset({"dark", "overexposed"})
# Frames this close in sharpness log-odds count as equally sharp (then exposure decides).
SHARPNESS_TIE = 0.4
BIAS_STEP = 0.3  # EV: exposure compensation this far apart is a step (cameras step by 1/3 EV or more)
EXPOSURE_STEP = 1.0  # EV: exposure settings this far apart within a run are a bracket, not metering drift
LOOKBACK = 64  # frames a frame is compared with: 2 s of the fastest bursts, bounded for mass copies
_EXPOSURE_KEY_STEP = 1 / 3  # EV: exposures rounded to this are "the same exposure" within a bracket


@dataclass(frozen=True)
class Frame:
    """One shot as grouping sees it (a RAW+JPEG pair is one frame, named by its first photo)."""

    photo: Path
    capture: Capture
    sharpness: float  # the sharpness log-odds: higher is sharper; a frame without a score is the least sharp
    exposure_ev: float  # mean brightness against mid-grey: the tie-breaker
    rejected: bool  # its own verdict is a reject

    @classmethod
    def of(cls, photo: Path, result: PhotoResult, taken: Capture) -> Frame:
        log_odds = result.sharpness.log_odds
        return cls(photo, taken, -math.inf if log_odds is None else log_odds, result.exposure.mean_ev,
                   result.verdict.decision == "reject")


@dataclass(frozen=True)
class Membership:
    """What one frame's sidecar records about its group."""

    kind: Kind
    id: str  # the same text in every frame of the group, unique per group
    size: int
    best: bool  # the pick of a burst, the base exposure of a bracket

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "best": self.best, "size": self.size}


@dataclass(frozen=True)
class Group:
    kind: Kind
    id: str
    photos: tuple[Path, ...]  # in capture order
    best: Path

    def membership(self, photo: Path) -> Membership:
        return Membership(self.kind, self.id, len(self.photos), photo == self.best)


def group(frames: Iterable[Frame], config: BurstConfig) -> list[Group]:
    """The bursts and brackets among ``frames`` (frames in none are left out)."""
    runs: dict[tuple[Path, str, str], list[Frame]] = defaultdict(list)
    for frame in frames:
        runs[(frame.photo.parent, frame.capture.camera, frame.capture.clock)].append(frame)
    groups: list[Group] = []
    for run in runs.values():
        run.sort(key=lambda f: (f.capture.taken, f.photo.name))
        for component in _components(run, config):
            groups.extend(_classify(component))
    return sorted(groups, key=lambda g: (str(g.photos[0].parent), g.photos[0].name))


def memberships(groups: Iterable[Group]) -> dict[Path, Membership]:
    """Each grouped frame's membership, by photo."""
    return {photo: g.membership(photo) for g in groups for photo in g.photos}


def decide(result: PhotoResult, membership: Membership | None, config: BurstConfig,
           sidecar: SidecarConfig) -> PhotoResult:
    """The photo's verdict after the group rule, applied on top of its own (per-photo) verdict."""
    if membership is None:
        return result
    if membership.kind == "bracket":
        return _bracket_frame(result, sidecar)
    others = config.others
    if membership.best or others == "unchanged" or result.verdict.decision == "reject":
        return result  # the pick; or nothing to change; or its own verdict is worse already
    reasons = tuple(dict.fromkeys(result.verdict.reasons + (BURST_REASON,)))
    return _with(result, Verdict(others, reasons, 0.0), sidecar)


# --- grouping ----------------------------------------------------------------------------


def _components(run: Sequence[Frame], config: BurstConfig) -> list[list[Frame]]:
    """Frames of one camera in time order, joined to earlier frames within the gap (union-find)."""
    parent = list(range(len(run)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = 0
    for j, frame in enumerate(run):
        while frame.capture.taken - run[first].capture.taken > config.gap_seconds or j - first > LOOKBACK:
            first += 1
        for i in range(first, j):
            if _joined(run[i].capture, frame.capture, config):
                parent[root(j)] = root(i)
    components: dict[int, list[Frame]] = defaultdict(list)
    for i, frame in enumerate(run):
        components[root(i)].append(frame)
    return [c for c in components.values() if len(c) > 1]


def _joined(earlier: Capture, later: Capture, config: BurstConfig) -> bool:
    if earlier.burst_id and later.burst_id:
        return earlier.burst_id == later.burst_id
    if earlier.sequence_number and later.sequence_number and later.sequence_number == earlier.sequence_number + 1:
        return True
    if earlier.auto_bracket and later.auto_bracket:
        return True  # one auto bracket, however its clipped frames look: cut apart by exposure later
    return capture.difference(earlier.likeness, later.likeness) <= config.likeness_bits


def _classify(frames: list[Frame]) -> list[Group]:
    if not _is_bracketed(frames):
        return [Group("burst", _group_id(frames), tuple(f.photo for f in frames), _pick(frames).photo)]
    brackets = [b for b in _split_brackets(frames) if len(b) > 1]
    return [Group("bracket", _group_id(b), tuple(f.photo for f in b), _base_exposure(b).photo) for b in brackets]


def _is_bracketed(frames: Sequence[Frame]) -> bool:
    biases = [f.capture.bias for f in frames if f.capture.bias is not None]
    exposures = [f.capture.exposure for f in frames if f.capture.exposure is not None]
    return (sum(f.capture.auto_bracket for f in frames) > 1
            or (len(biases) > 1 and max(biases) - min(biases) >= BIAS_STEP)
            or (len(exposures) > 1 and max(exposures) - min(exposures) >= EXPOSURE_STEP))


def _split_brackets(frames: Sequence[Frame]) -> list[list[Frame]]:
    """Cut a run of bracketed frames where an exposure repeats (0, -2, +2, 0, -2, +2: two brackets)."""
    brackets: list[list[Frame]] = []
    seen: set[tuple[int, int]] = set()
    for frame in frames:
        key = _exposure_key(frame.capture)
        if not brackets or key in seen:
            brackets.append([])
            seen = set()
        brackets[-1].append(frame)
        seen.add(key)
    return brackets


def _exposure_key(taken: Capture) -> tuple[int, int]:
    """The exposure a frame was made at, to the nearest third of a stop (settings, then compensation)."""

    def third(value: float | None) -> int:
        return round(value / _EXPOSURE_KEY_STEP) if value is not None else 0

    return third(taken.exposure), third(taken.bias)


def _base_exposure(frames: Sequence[Frame]) -> Frame:
    """The bracket's normal exposure: compensation nearest 0 when it steps, else the middle setting."""
    biases = {f.capture.bias for f in frames}
    if len(biases) > 1 and None not in biases:
        return min(frames, key=lambda f: (abs(f.capture.bias or 0.0), f.capture.taken))
    exposures = [f.capture.exposure for f in frames if f.capture.exposure is not None]
    if len(exposures) == len(frames):
        middle = statistics.median_low(exposures)
        return next(f for f in frames if f.capture.exposure == middle)
    return frames[0]


def _pick(frames: Sequence[Frame]) -> Frame:
    candidates = [f for f in frames if not f.rejected] or list(frames)
    sharpest = max(f.sharpness for f in candidates)
    equally_sharp = [f for f in candidates if f.sharpness >= sharpest - SHARPNESS_TIE]
    return min(equally_sharp, key=lambda f: (abs(f.exposure_ev), -f.sharpness, f.capture.taken))


def _group_id(frames: Sequence[Frame]) -> str:
    """The first frame's name and a digest of where, with what and when it was taken: unique per group."""
    first = frames[0]
    digest = hashlib.sha1(
        f"{first.photo.parent}\0{first.capture.camera}\0{first.capture.taken!r}\0{first.photo.name}".encode(),
        usedforsecurity=False,
    ).hexdigest()[:8]
    return f"{first.photo.stem}-{digest}"


# --- verdicts -----------------------------------------------------------------------------


def _bracket_frame(result: PhotoResult, sidecar: SidecarConfig) -> PhotoResult:
    """A bracket frame's verdict without its exposure reasons: blur alone decides.

    The frame is judged again as if exposed as meant (exposure probabilities of zero),
    against the photo's own limits, by the verdict's own rules.
    """
    if not EXPOSURE_REASONS & set(result.verdict.reasons):
        return result
    exposed_as_meant = dataclasses.replace(result.exposure, dark=0.0, overexposed=0.0)
    return _with(result, verdict.decide(result.sharpness, exposed_as_meant, result.thresholds), sidecar)


def _with(result: PhotoResult, decided: Verdict, sidecar: SidecarConfig) -> PhotoResult:
    return dataclasses.replace(result, verdict=decided, rating=verdict.rating(decided, sidecar))
