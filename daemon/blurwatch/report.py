"""The contact-sheet report: one static HTML page of what the sidecars say about a cull.

The page is built from the sidecars, never from a fresh scoring run, so it describes a
folder culled earlier, by ``--once`` or by the daemon, exactly as darktable will see it.
It is self-contained and offline: thumbnails are small JPEG files in a ``<report>.d/``
folder beside it (lazy-loaded, so 2,000 photos open smoothly; made and cached by
:mod:`blurwatch.thumbnails`), everything else is inline, and a Content-Security-Policy
stops the browser from fetching anything else.

A photo that could not be scored has no sidecar to tell why: it is shown as failed with
the reason when the caller knows it (``--once --report``) or the watch daemon recorded
it, and as not culled yet otherwise. Scores show as many digits as it takes for each to
compare with the thresholds as its section does (0.947 sits under "keep from 0.950").
A page with no verdict and no failure on it is not written.
"""

from __future__ import annotations

import datetime
import html
import logging
import os
import re
import sqlite3
import time
import typing
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from blurwatch import __version__, discovery, files, sidecar, verdict
from blurwatch.config import Config
from blurwatch.errors import PhotoError, UsageError
from blurwatch.pipeline import Models
from blurwatch.state import DB_NAME, StateDB
from blurwatch.thumbnails import Thumb, make_thumbnails
from blurwatch.verdict import REASONS, Thresholds

log = logging.getLogger(__name__)

HISTOGRAM_BINS = 50
TEMPLATE = "report_template.html"
DEFAULT_NAME = "cull.html"

# (section id, heading), in page order; "failed" holds photos that could not be scored,
# "none" photos without a readable verdict for another reason.
SECTIONS = (("reject", "Rejected"), ("review", "Review"), ("keep", "Kept"), ("failed", "Failed"),
            ("none", "No verdict"))
NOT_CULLED = "not culled yet (no blurwatch sidecar)"


@dataclass(frozen=True)
class Entry:
    """One shot on the sheet (a RAW+JPEG pair is one shot): its stored verdict, or why it has none."""

    photo: Path  # the photo shown (the JPEG of a pair)
    stored: sidecar.StoredVerdict | None
    problem: str = ""  # shown instead of figures when ``stored`` is None
    partners: tuple[Path, ...] = ()  # the other files of the shot, sharing its verdict
    failed: bool = False  # ``problem`` is why it could not be scored

    @property
    def section(self) -> str:
        return self.stored.verdict if self.stored else "failed" if self.failed else "none"


def write_report(
    paths: Sequence[Path], out: Path, config: Config, models: Models | None = None,
    failures: Mapping[Path, str] | None = None,
) -> Path:
    """Write the report of the photos in ``paths`` (photos or folders) to ``out``.

    ``out`` may be a folder, which gets a ``cull.html``; the page written is returned.
    ``models`` give the thresholds drawn on the histogram; by default the shipped
    models' metadata is read (cheap: no interpreter is created). ``failures``
    (photo -> error line) are photos the caller could not score; without it, those the
    watch daemon recorded as broken are shown failed. Raises :class:`UsageError`, writing
    nothing, when no photo under ``paths`` has a verdict or a failure to show.
    """
    out = Path(out) / DEFAULT_NAME if Path(out).is_dir() else Path(out)
    limits = (models or Models.load()).thresholds(config)
    shots = find_shots(paths)
    if failures is None:
        failures = daemon_failures([photo for shot in shots for photo in shot], config)
    entries = [read_entry(shot, config.sidecar.naming, failures) for shot in shots]
    if not any(e.stored or e.failed for e in entries):
        where = " ".join(map(str, paths))
        raise UsageError(f"no photo under {where} has a blurwatch verdict yet (run 'blurwatch --once {where}' "
                         "first); no report written")
    return render(entries, out, limits, config, title=_title(paths))


def daemon_failures(photos: Sequence[Path], config: Config) -> dict[Path, str]:
    """The photos the watch daemon found broken, with its error line; none when it never ran."""
    state = config.watch.state_path() / DB_NAME
    if not state.is_file():
        return {}
    try:
        with StateDB(state, readonly=True) as db:
            return db.errors_of(photos)
    except sqlite3.DatabaseError as exc:
        log.warning("%s: the daemon's state cannot be read, failures not shown: %s", state, exc)
        return {}


def thumbs_dir_of(out: Path) -> Path:
    """The folder beside the page that holds its thumbnails: ``cull.html`` -> ``cull.html.d``.

    Discovery skips folders with that suffix, so a report written among the photos never
    has its thumbnails culled (or listed in the next report).
    """
    return out.with_name(out.stem + discovery.REPORT_FOLDER_SUFFIX)


def find_shots(paths: Iterable[Path]) -> list[discovery.Group]:
    """The shots under ``paths`` as discovery groups them; paths that are not there are logged."""
    groups, errors = discovery.find_jobs(paths)
    for line in errors:
        log.warning("%s", line)
    return groups


def read_entry(shot: discovery.Group, naming: str, failures: Mapping[Path, str] | None = None) -> Entry:
    """The verdict of a shot from the first of its files whose sidecar has one.

    A missing or unreadable sidecar does not drop the shot: it is listed without a
    verdict, as failed when ``failures`` (photo -> error line) has one of its files.
    """
    photo, partners = shot[0], tuple(shot[1:])
    failed = next((failures[path] for path in shot if failures and path in failures), "")
    problem = f"failed: {_reason(failed, shot)}" if failed else NOT_CULLED
    for path in shot:
        try:
            stored = sidecar.read_verdict(path, naming)
        except PhotoError as exc:
            log.warning("%s: sidecar not readable, listed without a verdict: %s", path, exc.reason)
            problem = f"sidecar not readable: {exc.reason}"
            continue
        if stored is None:
            continue
        if stored.verdict not in typing.get_args(verdict.Decision):
            log.warning("%s: unknown verdict %r in %s", path, stored.verdict, stored.sidecar)
            problem = f"unknown verdict {stored.verdict!r} in {stored.sidecar.name}"
            continue
        return Entry(photo, stored, partners=partners)
    return Entry(photo, None, problem, partners, failed=bool(failed))


def _reason(error: str, shot: discovery.Group) -> str:
    """An error line without the file name that starts it (the card names the photo already)."""
    for path in shot:
        if error.startswith(f"{path}: "):
            return error[len(f"{path}: "):]
    return error


def render(entries: Sequence[Entry], out: Path, limits: Thresholds, config: Config,
           title: str = "Cull report") -> Path:
    """Make or reuse the thumbnails, then write the page atomically; returns ``out``."""
    started = time.monotonic()
    thumbs_dir = thumbs_dir_of(out)
    thumbs = make_thumbnails([e.photo for e in entries], thumbs_dir, config)
    scored = [(e.stored.sharpness, e.section) for e in entries if e.stored and e.stored.sharpness is not None]
    digits = score_digits([score for score, _ in scored], limits)
    page = _fill(
        _template(),
        title=html.escape(title),
        summary=_summary(entries),
        thresholds=html.escape(f"reject below {limits.reject_below:.{digits}f} · "
                               f"keep from {limits.keep_from:.{digits}f}"),
        histogram=histogram_svg([score for score, _ in scored], [section for _, section in scored], limits,
                                digits),
        reason_filters=_reason_filters(entries),
        groups=_groups(entries, thumbs, thumbs_dir.name, out.parent, digits),
        sections="\n".join(_section(sid, heading, entries, thumbs, thumbs_dir.name, out.parent, digits)
                           for sid, heading in SECTIONS),
        footer=html.escape(_footer(entries)),
    )
    files.replace(out, page.encode("utf-8"))
    log.info("%s: report of %d photos written in %.1f s", out, len(entries), time.monotonic() - started)
    return out


# ---------------------------------------------------------------- page parts


def score_digits(scores: Iterable[float], limits: Thresholds) -> int:
    """The fewest decimals (2 at least) at which every score compares with both thresholds as it truly does.

    At two decimals 0.947 shows as 0.95, the same as a keep_from of 0.95 it is below.
    """
    values = list(scores)
    for digits in range(2, 6):
        if all((round(score, digits) < round(limit, digits)) == (score < limit)
               for score in values for limit in (limits.reject_below, limits.keep_from)):
            return digits
    return 6


def histogram_svg(scores: Sequence[float], sections: Sequence[str], limits: Thresholds, digits: int = 2) -> str:
    """An inline SVG histogram of sharpness scores, stacked by verdict, thresholds drawn."""
    width, height, top, bottom = 600, 120, 14, 18
    plot = height - top - bottom
    bins = {sid: np.zeros(HISTOGRAM_BINS, int) for sid, _ in SECTIONS[:3]}
    for score, section in zip(scores, sections, strict=True):
        bins[section][min(HISTOGRAM_BINS - 1, max(0, int(score * HISTOGRAM_BINS)))] += 1
    peak = max(1, int(np.sum(list(bins.values()), axis=0).max()))
    bar = width / HISTOGRAM_BINS
    parts = [f'<svg class="histogram" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Histogram of sharpness scores">']
    for i in range(HISTOGRAM_BINS):
        base = float(height - bottom)
        for sid in ("reject", "review", "keep"):
            count = int(bins[sid][i])
            if count:
                h = plot * count / peak
                base -= h
                parts.append(f'<rect class="h-{sid}" x="{i * bar + 0.5:.1f}" y="{base:.1f}" '
                             f'width="{bar - 1:.1f}" height="{h:.1f}"><title>{count} {sid}, sharpness '
                             f'{i / HISTOGRAM_BINS:.2f}–{(i + 1) / HISTOGRAM_BINS:.2f}</title></rect>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        anchor = {0.0: "start", 1.0: "end"}.get(tick, "middle")
        parts.append(f'<text class="tick" x="{tick * width:.0f}" y="{height - 4}" '
                     f'text-anchor="{anchor}">{tick:g}</text>')
    for value, label, cls in ((limits.reject_below, "reject", "t-reject"), (limits.keep_from, "keep", "t-keep")):
        x = value * width
        anchor = "end" if cls == "t-reject" else "start"
        dx = -4 if cls == "t-reject" else 4
        parts.append(f'<line class="{cls}" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - bottom}"/>'
                     f'<text class="{cls}" x="{x + dx:.1f}" y="{top + 2}" text-anchor="{anchor}">'
                     f'{label} {value:.{digits}f}</text>')
    parts.append(f'<line class="axis" x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}"/></svg>')
    return "".join(parts)


def _section(sid: str, heading: str, entries: Sequence[Entry], thumbs: dict[Path, Thumb | None],
             thumbs_url: str, base: Path, digits: int) -> str:
    # The page opens in the toolbar's first order: softest first, then by name.
    members = sorted((e for e in entries if e.section == sid),
                     key=lambda e: (_score(e.stored), e.photo.name.lower()))
    if not members and sid in ("failed", "none"):
        return ""
    cards = "\n".join(_card(e, thumbs.get(e.photo), thumbs_url, base, digits) for e in members)
    cards = cards or '<p class="empty">none</p>'
    return (f'<details class="section s-{sid}" id="{sid}" open>'
            f'<summary><h2>{heading}</h2><span class="count" data-total="{len(members)}">{len(members)}</span>'
            f'</summary><div class="grid">{cards}</div></details>')


def _groups(entries: Sequence[Entry], thumbs: dict[Path, Thumb | None], thumbs_url: str, base: Path,
            digits: int) -> str:
    """Each burst and bracket as one row of its frames, in name order, the pick marked; "" when there are none."""
    rows: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        if entry.stored is not None and entry.stored.group is not None:
            rows.setdefault((entry.stored.group.kind, entry.stored.group.id), []).append(entry)
    if not rows:
        return ""
    html_rows = []
    for (kind, _), frames in sorted(rows.items(), key=lambda item: item[1][0].photo.name.lower()):
        frames.sort(key=lambda e: e.photo.name.lower())
        pick = "the pick" if kind == "burst" else "base exposure"
        html_rows.append(f'<div class="group-row" data-kind="{kind}"><div class="group-head">{kind} of '
                         f'{len(frames)} frames</div><div class="group-frames">'
                         + "".join(_group_frame(e, thumbs.get(e.photo), thumbs_url, base, pick, digits) for e in frames)
                         + "</div></div>")
    counts = Counter(kind for kind, _ in rows)
    label = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(counts.items()))
    return (f'<details class="groups" id="groups" open><summary><h2>Bursts and brackets</h2>'
            f'<span class="count">{html.escape(label)}</span></summary>{"".join(html_rows)}</details>')


def _group_frame(entry: Entry, thumb: Thumb | None, thumbs_url: str, base: Path, pick: str, digits: int) -> str:
    """One frame of a group's row: its thumbnail, name, sharpness and verdict; the pick marked."""
    esc = html.escape
    stored = entry.stored
    assert stored is not None and stored.group is not None
    picture = (f'<img loading="lazy" alt="" src="{esc(urllib.parse.quote(thumbs_url))}/{thumb.name}">' if thumb
               else '<span class="nothumb">no preview</span>')
    best = f'<span class="pick">\u2605 {pick}</span>' if stored.group.best else ""
    return (f'<figure class="group-frame s-{esc(stored.verdict)}{" best" if stored.group.best else ""}">'
            f'<a href="{esc(_relative_url(entry.photo, base))}">{picture}</a><figcaption>'
            f'<span class="name" title="{esc(str(entry.photo))}">{esc(entry.photo.name)}</span>'
            f'<span>sharp {_sharpness_text(stored, digits)} · {esc(stored.verdict)}</span>{best}</figcaption></figure>')


def _card(entry: Entry, thumb: Thumb | None, thumbs_url: str, base: Path, digits: int = 2) -> str:
    """One tile; its data-* attributes are what the page's sort, filter and map read."""
    esc = html.escape
    if thumb:
        picture = (f'<span class="pic"><img loading="lazy" decoding="async" alt="" width="{thumb.width}" '
                   f'height="{thumb.height}" src="{esc(urllib.parse.quote(thumbs_url))}/{thumb.name}"></span>')
    else:
        picture = '<span class="nothumb">no preview</span>'
    stored = entry.stored
    data = {"name": entry.photo.name.lower(), "score": "-1", "ev": "0", "reasons": "", "map": ""}
    if stored:
        data.update(score=f"{_score(stored):.4f}", ev=f"{stored.exposure_ev:.3f}",
                    reasons=" ".join(stored.reasons), map=stored.sharpness_map)
        details = (f'<div class="badges">{"".join(_badge(r) for r in stored.reasons)}</div>'
                   f'<div class="figures">{_figures(stored, digits)}</div>'
                   f'<div class="rating">{_rating(stored)}{_origin(entry)}</div>')
    else:
        details = f'<div class="problem">{esc(entry.problem)}</div><div class="rating">{_origin(entry)}</div>'
    attributes = " ".join(f'data-{key}="{esc(value)}"' for key, value in data.items())
    return (f'<article class="card" {attributes}><a class="frame" href="{esc(_relative_url(entry.photo, base))}">'
            f'{picture}</a><div class="meta"><div class="name" title="{esc(str(entry.photo))}">'
            f'{esc(entry.photo.name)}</div>{details}</div></article>')


def _score(stored: sidecar.StoredVerdict | None) -> float:
    """The sharpness to sort by: -1 for photos without one (unscored, or too little detail)."""
    return -1.0 if stored is None or stored.sharpness is None else stored.sharpness


def _sharpness_text(stored: sidecar.StoredVerdict, digits: int) -> str:
    """The score as shown, or a dash for a photo with too little detail to have one."""
    return "\u2013" if stored.sharpness is None else f"{stored.sharpness:.{digits}f}"


def _badge(reason: str) -> str:
    return f'<span class="badge r-{html.escape(reason)}">{html.escape(reason)}</span>'


def _origin(entry: Entry) -> str:
    """What was decoded (jpeg, raw-preview...) and the other files of a RAW+JPEG shot."""
    parts = [entry.stored.decoded_from] if entry.stored else []
    parts += [f"+{p.suffix.lstrip('.').upper()}" for p in entry.partners]
    scored = entry.stored.scored if entry.stored else ""
    when = f' title="scored {html.escape(scored)}"' if scored else ""
    return f'<span class="from"{when}>{html.escape(" · ".join(parts))}</span>'


def _figures(stored: sidecar.StoredVerdict, digits: int) -> str:
    flagged = set(stored.reasons)

    def figure(label: str, value: str, reason: str) -> str:
        cls = ' class="flag"' if reason in flagged else ""
        return f"<span{cls}><b>{label}</b> {value}</span>"

    ev = f"{stored.exposure_ev:+.1f}".replace("-", "\u2212")
    return (figure("sharp", _sharpness_text(stored, digits), "blurry") + figure("EV", ev, "dark")
            + figure("clip", f"{stored.clipped * 100:.1f}%", "overexposed")
            + figure("crush", f"{stored.crushed * 100:.1f}%", "dark"))


def _rating(stored: sidecar.StoredVerdict) -> str:
    manual = ""
    if stored.rating_is_manual:
        manual = ' <span class="manual" title="set by hand, not by blurwatch">manual</span>'
    if stored.rating is None:
        return f'<span class="stars none">no rating</span>{manual}'
    if stored.rating < 0:
        return f'<span class="stars rejected">\u2715 rejected</span>{manual}'
    stars = "\u2605" * stored.rating + "\u2606" * (5 - stored.rating)
    return f'<span class="stars" title="{stored.rating} of 5">{stars}</span>{manual}'


def _reason_filters(entries: Sequence[Entry]) -> str:
    counts = Counter(r for e in entries if e.stored for r in e.stored.reasons)
    known = list(REASONS) + sorted(set(counts) - set(REASONS))
    chips = ['<button type="button" class="chip active" data-reason="">all</button>']
    chips += [f'<button type="button" class="chip r-{html.escape(r)}" data-reason="{html.escape(r)}">'
              f'{html.escape(r)} <span>{counts[r]}</span></button>' for r in known if counts[r]]
    return "".join(chips)


def _summary(entries: Sequence[Entry]) -> str:
    counts = Counter(e.section for e in entries)
    parts = [f'<a class="stat s-{sid}" href="#{sid}"><b>{counts[sid]}</b> {heading.lower()}</a>'
             for sid, heading in SECTIONS if counts[sid] or sid not in ("failed", "none")]
    pairs = sum(1 for e in entries if e.partners)
    if pairs:
        files = sum(1 + len(e.partners) for e in entries)
        parts.append(f'<span class="pairs">{files} files on {len(entries)} cards: '
                     f'a RAW+JPEG pair is one card ({pairs} here)</span>')
    return "".join(parts)


def _title(paths: Sequence[Path]) -> str:
    """Named after what was asked for (``report shoot``: "shoot"), not the folders found below it."""
    names = [Path(os.path.abspath(path)).name or str(path) for path in paths]
    where = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"Cull report: {where}" if where else "Cull report"


def _footer(entries: Sequence[Entry]) -> str:
    models = sorted({e.stored.model_version for e in entries if e.stored and e.stored.model_version})
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    return f"blurwatch {__version__} · model {', '.join(models) or 'unknown'} · generated {when}"


def _relative_url(photo: Path, base: Path) -> str:
    """A link to the original photo relative to the report, so the two can move together."""
    relative = os.path.relpath(photo.resolve(), base.resolve())
    return urllib.parse.quote(Path(relative).as_posix())


def _template() -> str:
    return (resources.files("blurwatch") / TEMPLATE).read_text(encoding="utf-8")


def _fill(template: str, **parts: str) -> str:
    """Replace every ``{{name}}`` in the template; a missing or unused part is a bug."""
    names = set(re.findall(r"\{\{(\w+)\}\}", template))
    if names != set(parts):
        raise ValueError(f"{TEMPLATE}: placeholders {sorted(names)} do not match {sorted(parts)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], template)
