"""The per-photo job: decode, judge, write the verdict, for one photo or a RAW+JPEG pair.

A camera's RAW+JPEG pair is one shot and one :class:`Job`: decoded and judged once, from
the first of its photos that decodes (discovery puts the JPEG first, which decodes
faster; the RAW is the fallback), and the verdict written beside every photo of it.
``--once``, the daemon, ``calibrate``, ``score`` (a dry run) and the tests all run
:func:`run_job`: in worker processes (:mod:`blurwatch.workers`, which only carries jobs
there and outcomes back) or here, one after the other, with :func:`run_sequential`.

A photo that cannot be decoded, or whose sidecar cannot be merged into, is a one-line
error naming it in :attr:`Outcome.errors`; the other photo of a pair still gets its
verdict. A photo replaced or rewritten while it was judged (its inode, size or mtime
moved) gets no sidecar: the verdict is about the file that was read. That error, and a
sidecar another program kept saving while blurwatch merged into it, may pass by
themselves: such photos are in :attr:`Outcome.retry`, for the daemon to try again.
Anything else raised is a bug. A dry run writes nothing but still reads the sidecars,
to tell what writing would do (a rating set by hand that would be kept).

A job calls ``progress`` after each stage (decoded, judged, each photo's sidecar
written), which is how the worker pool tells a slow photo from a hung worker.

The job also notes how its photo was taken (:class:`blurwatch.capture.Capture`: camera,
time, exposure settings, a likeness hash of the image it decoded), which the burst stage
(:mod:`blurwatch.burst_stage`) groups once it has seen the frames around it. The verdict
written here keeps whatever burst or bracket the sidecar already records
(:func:`blurwatch.sidecar.merge_verdict`), so scoring a photo again changes nothing
the stage would only have to put back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from blurwatch import capture, decoding, pipeline, sidecar
from blurwatch.bursts import Membership
from blurwatch.capture import Capture
from blurwatch.config import Config
from blurwatch.errors import Busy, DecodeError, PhotoError, SidecarError, shown
from blurwatch.files import Fingerprint
from blurwatch.pipeline import Models, PhotoResult
from blurwatch.sidecar import Merged

log = logging.getLogger(__name__)

# A job's steps, each timed in :attr:`Outcome.timings`: judging is split by
# :func:`blurwatch.pipeline.judge` into exposure, patches and network; "group" notes how
# the photo was taken (:mod:`blurwatch.capture`).
STEPS = ("decode", "exposure", "patches", "network", "group", "write")


@dataclass(frozen=True)
class Job:
    """The photos of one shot, judged once: ``photos[0]`` is decoded, the next one if it cannot be."""

    photos: tuple[Path, ...]
    dry_run: bool = False  # judge only, write no sidecar (but tell what writing would do)
    defer: bool = False  # judge, but leave the writing to the burst stage (a frame with neighbours in time)
    force: bool = False  # also replace ratings set by hand


@dataclass(frozen=True)
class Outcome:
    """What a job came to: the verdict (None when no photo decoded) and each photo's error."""

    job: Job
    result: PhotoResult | None
    merges: tuple[Merged, ...] = ()  # what writing did (a dry run: would do) to each sidecar
    errors: Mapping[Path, str] = field(default_factory=dict)  # photo -> one line naming the file that failed
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per step, see STEPS
    retry: frozenset[Path] = frozenset()  # photos whose error may pass: they or their sidecars kept changing
    capture: Capture | None = None  # how the judged photo was taken, for the burst stage
    group: Membership | None = None  # the burst or bracket its sidecar records (kept by this write)

    @property
    def sidecars(self) -> tuple[Path, ...]:
        """The sidecars that now hold the verdict (none for a dry run)."""
        return () if self.job.dry_run else tuple(merged.sidecar for merged in self.merges)

    @classmethod
    def failed(cls, job: Job, error: str, timings: Mapping[str, float] | None = None) -> Outcome:
        """Nothing could be judged: every photo of the job fails with ``error``."""
        return cls(job, None, errors=dict.fromkeys(job.photos, error), timings=timings or {})

    def error_for(self, photo: Path) -> str | None:
        return self.errors.get(photo)

    def merged_for(self, photo: Path, naming: str) -> Merged | None:
        """What happened to the photo's first sidecar (the one readers read first), if it was reached."""
        merges = {merged.sidecar: merged for merged in self.merges}
        return next((merges[p] for p in sidecar.sidecar_paths(photo, naming) if p in merges), None)


def run_job(job: Job, config: Config, models: Models, progress: Callable[[], None] = lambda: None) -> Outcome:
    """Judge the job's first decodable photo, then write the verdict beside every photo.

    Pure apart from the sidecar writes (none with ``dry_run``). A sidecar that cannot be
    merged into is reported for that photo, and the other photos are still written.
    """
    timings = dict.fromkeys(STEPS, 0.0)
    identities = {photo: Fingerprint.now(photo) for photo in job.photos}
    try:
        result, taken = _judge_first_decodable(job, config, models, timings, progress)
    except PhotoError as exc:
        return Outcome.failed(job, str(exc), timings)
    started = time.perf_counter()
    keep = sidecar.STORED if config.burst.enabled else None  # bursts turned off: their groups go
    merges, errors, retry = write_verdicts(job, result, config, identities, progress, group=keep)
    timings["write"] = time.perf_counter() - started
    log.debug("%s: %s %s", shown(job.photos[0]), result.verdict.decision, ",".join(result.verdict.reasons))
    group = next((m.group for m in merges if m.photo == job.photos[0]), merges[0].group if merges else None)
    return Outcome(job, result, tuple(merges), errors, timings, frozenset(retry), capture=taken, group=group)


def run_sequential(jobs: Iterable[Job], config: Config, models: Models) -> Iterator[Outcome]:
    """Run ``jobs`` in this process, one after the other, yielding each outcome in order.

    The worker pool's ``map_unordered`` without the processes: for one photo (``score``)
    and for tests, where a decoder crash may take the process with it.
    """
    for job in jobs:
        yield run_job(job, config, models)


def _judge_first_decodable(job: Job, config: Config, models: Models, timings: dict[str, float],
                           progress: Callable[[], None]) -> tuple[PhotoResult, Capture | None]:
    """Decode the photos in order until one works, then judge it and note how it was taken (each stage timed)."""
    for index, photo in enumerate(job.photos):
        started = time.perf_counter()
        try:
            decoded = decoding.decode(photo, config.decode)
        except DecodeError as exc:
            if index == len(job.photos) - 1:
                raise
            log.info("%s; trying %s instead", exc, shown(job.photos[index + 1]))
            continue
        finally:
            timings["decode"] += time.perf_counter() - started
            progress()
        result = pipeline.judge(decoded, config, models, timings)
        progress()
        if not config.burst.enabled:
            return result, None
        started = time.perf_counter()
        taken = capture.capture(decoded.exif, _mtime(photo), decoded.gray)
        timings["group"] = time.perf_counter() - started
        return result, taken
    raise ValueError("a job needs at least one photo")


def _mtime(photo: Path) -> float:
    """The file's mtime: the capture time of a photo without EXIF (0 if it vanished since decoding)."""
    try:
        return photo.stat().st_mtime
    except OSError:
        return 0.0


def write_verdicts(job: Job, result: PhotoResult, config: Config, identities: Mapping[Path, Fingerprint | None],
                   progress: Callable[[], None] = lambda: None, *, group: sidecar.GroupChoice = sidecar.STORED,
                   ) -> tuple[list[Merged], dict[Path, str], set[Path]]:
    """The verdict into the sidecars of every photo still the one that was read.

    ``group`` is the burst or bracket to record: the job keeps the one each sidecar
    records, the burst stage gives the one it decided. Returns what it did to each
    sidecar, an error line per photo that failed, and the photos whose failure may pass
    (see :attr:`Outcome.retry`). The RAW of a pair goes first: the Adobe-named
    ``IMG_1.xmp`` the pair shares is the RAW's in Lightroom's eyes, so the verdict it
    holds is recorded as the RAW's.
    """
    merges: list[Merged] = []
    errors: dict[Path, str] = {}
    retry: set[Path] = set()
    for photo in sorted(job.photos, key=lambda p: p.suffix.lower() not in decoding.RAW_EXTENSIONS):
        if not job.dry_run and Fingerprint.now(photo) != identities[photo]:
            errors[photo] = (f"{shown(photo)}: changed while blurwatch judged it (replaced, or still being "
                             "written); no sidecar written, as the verdict is about the file that was read")
            retry.add(photo)
            continue
        try:
            merges += sidecar.merge_verdict(photo, result, config.sidecar, job.force,
                                            done=[m.sidecar for m in merges], dry_run=job.dry_run or job.defer,
                                            group=group, burst=config.burst)
        except (SidecarError, Busy) as exc:  # it names the sidecar; the line must start with the photo
            errors[photo] = str(exc) if exc.path == photo else f"{shown(photo)}: {exc}"
            if isinstance(exc, Busy):
                retry.add(photo)
        finally:
            progress()
    return merges, errors, retry
