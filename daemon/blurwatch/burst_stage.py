"""The burst stage: after the per-photo jobs, group their frames and write what the groups decide.

A second stage over the outcomes of a run, sequential or pooled alike: ``--once`` runs
it when every job is done, the daemon (:mod:`blurwatch.burst_tracker`) once a camera
has been quiet. Grouping itself is :func:`blurwatch.bursts.group`, pure; this module
is the edge that applies its decisions: each frame whose group changed gets its sidecars
merged again (atomically, through :mod:`blurwatch.sidecar`, with its own per-photo
verdict and the new group), and nothing else is touched, so a run that finds the groups
its sidecars record already writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from blurwatch import bursts, capture, discovery, job
from blurwatch.bursts import Group, Membership
from blurwatch.capture import Capture
from blurwatch.config import Config
from blurwatch.files import Fingerprint
from blurwatch.job import Job, Outcome
from blurwatch.pipeline import PhotoResult
from blurwatch.sidecar import Merged

log = logging.getLogger(__name__)

WRITERS = 4  # threads rewriting sidecars: they mostly wait for fsync


@dataclass(frozen=True)
class Shot:
    """A judged job as the stage needs it: its own verdict, how it was taken, the group its sidecar records."""

    job: Job
    result: PhotoResult  # the per-photo verdict, before any group rule
    capture: Capture
    recorded: Membership | None
    unwritten: bool = False  # its job deferred a write that would change its sidecars

    @property
    def photo(self) -> Path:
        return self.job.photos[0]

    @classmethod
    def of(cls, outcome: Outcome) -> Shot | None:
        """The outcome's shot, None when nothing was judged."""
        if outcome.result is None or outcome.capture is None:
            return None
        unwritten = outcome.job.defer and any(merged.changed for merged in outcome.merges)
        return cls(outcome.job, outcome.result, outcome.capture, outcome.group, unwritten)

    def frame(self) -> bursts.Frame:
        return bursts.Frame.of(self.photo, self.result, self.capture)


@dataclass(frozen=True)
class Applied:
    """One shot after the stage: its group, its verdict after the group rule, what its writes did."""

    shot: Shot
    group: Membership | None
    result: PhotoResult
    merges: list[Merged]  # what rewriting did to each sidecar (none when its group did not change)
    errors: dict[Path, str]


def group(shots: Iterable[Shot], config: Config) -> list[Group]:
    """The bursts and brackets among ``shots`` (none when ``burst.enabled`` is off)."""
    if not config.burst.enabled:
        return []
    return bursts.group((shot.frame() for shot in shots), config.burst)


def apply(shots: Sequence[Shot], groups: Iterable[Group], config: Config) -> list[Applied]:
    """Write each shot whose group is not the one its sidecar records; every shot's final verdict.

    The writes run on a few threads: most of a sidecar write is waiting for the disk
    (fsync), and exiv2's part is serialised by :data:`blurwatch.xmp.LOCK` anyway.
    """
    members = bursts.memberships(groups)
    changed = [shot for shot in shots
               if (shot.unwritten or members.get(shot.photo) != shot.recorded) and not shot.job.dry_run]
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="blurwatch-burst") as pool:
        written = dict(zip((s.photo for s in changed),
                           pool.map(lambda shot: _write(shot, members.get(shot.photo), config), changed), strict=True))
    return [Applied(shot, members.get(shot.photo),
                    bursts.decide(shot.result, members.get(shot.photo), config.burst, config.sidecar),
                    *written.get(shot.photo, ([], {}))) for shot in shots]


def deferred(shots: Sequence[discovery.Group], config: Config) -> set[Path]:
    """The shots (by first photo) taken within ``burst.gap_seconds`` of another by the same camera.

    Their jobs judge without writing (:attr:`blurwatch.job.Job.defer`) and the stage writes
    each once, with its group: a frame of a burst is not written twice, nor seen for a
    moment with the verdict of a frame alone. Read from metadata (a fraction of a ms a
    photo); frames that turn out not to look alike are written by the stage all the same.
    """
    if not config.burst.enabled:
        return set()
    clocks = {shot[0]: capture.clock_of(shot[0]) for shot in shots}
    by_folder: dict[Path, list[discovery.Group]] = {}
    for shot in shots:
        by_folder.setdefault(shot[0].parent, []).append(shot)
    return {shot[0] for folder in by_folder.values()
            for run in _runs(folder, clocks, config.burst.gap_seconds) if len(run) > 1 for shot in run}


def widen(shots: Sequence[discovery.Group], named: Iterable[Path], config: Config) -> list[discovery.Group]:
    """``shots`` and the shots taken around the ``named`` photos in their folders, so their bursts are whole.

    A burst decided from some of its frames would be cut in two (``--once IMG_0003.jpg``,
    or the darktable plugin culling a selection in batches). So for each photo named on
    its own, the shots of its folder by the same camera are added while they follow each
    other within ``burst.gap_seconds`` of it (read from their metadata, not decoded).
    """
    if not config.burst.enabled:
        return list(shots)
    wanted = {shot[0]: shot for shot in shots}
    named_by_folder: dict[Path, set[Path]] = {}
    for photo in named:
        named_by_folder.setdefault(photo.parent, set()).add(photo)
    for folder, photos in named_by_folder.items():
        neighbours = discovery.folder_shots(folder)
        clocks = {shot[0]: capture.clock_of(shot[0]) for shot in neighbours}
        for run in _runs(neighbours, clocks, config.burst.gap_seconds):
            if any(photo in shot for shot in run for photo in photos):
                wanted.update((shot[0], shot) for shot in run)
    return sorted(wanted.values(), key=lambda g: (str(g[0].parent), g[0].name.lower(), g[0].name))


def _runs(shots: Sequence[discovery.Group], clocks: dict[Path, tuple[str, str, float]],
          gap: float) -> list[list[discovery.Group]]:
    """Shots of one camera and clock that follow each other within ``gap`` seconds."""
    ordered = sorted(shots, key=lambda shot: (clocks[shot[0]][:2], clocks[shot[0]][2]))
    runs: list[list[discovery.Group]] = []
    for shot in ordered:
        camera, clock, taken = clocks[shot[0]]
        if runs and clocks[runs[-1][-1][0]][:2] == (camera, clock) and taken - clocks[runs[-1][-1][0]][2] <= gap:
            runs[-1].append(shot)
        else:
            runs.append([shot])
    return runs


def finish(outcomes: Sequence[Outcome], config: Config) -> list[Outcome]:
    """``--once``'s end: the outcomes with their groups decided and written, verdicts as written."""
    shots = [shot for outcome in outcomes if (shot := Shot.of(outcome)) is not None]
    done = {a.shot.photo: a for a in apply(shots, group(shots, config), config)}
    return [_updated(outcome, done.get(outcome.job.photos[0])) for outcome in outcomes]


def _updated(outcome: Outcome, applied: Applied | None) -> Outcome:
    """The outcome as the run ends: the verdict after the group rule, each sidecar as last written."""
    if applied is None:
        return outcome
    before = {m.sidecar: m for m in outcome.merges}
    rewritten = {m.sidecar: dataclasses.replace(m, changed=m.changed or (m.sidecar in before and
                                                                         before[m.sidecar].changed))
                 for m in applied.merges}
    merges = tuple(rewritten.get(m.sidecar, m) for m in outcome.merges)
    return dataclasses.replace(outcome, result=applied.result, group=applied.group, merges=merges,
                               errors={**outcome.errors, **applied.errors})


def _write(shot: Shot, decided: Membership | None, config: Config) -> tuple[list[Merged], dict[Path, str]]:
    """Merge the shot's verdict with its new group into its photos' sidecars: what it did, errors by photo."""
    identities = {photo: Fingerprint.now(photo) for photo in shot.job.photos}  # the stage writes what is there now
    now_written = dataclasses.replace(shot.job, defer=False)  # a deferred job's write happens here
    merges, errors, _ = job.write_verdicts(now_written, shot.result, config, identities, group=decided)
    for error in errors.values():
        log.info("%s", error)
    what = f"{decided.kind} {decided.id}{' (best)' if decided.best else ''}" if decided else "no group"
    log.debug("%s: now %s", shot.photo, what)
    return merges, errors
