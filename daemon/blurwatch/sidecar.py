"""Sidecars: merge blurwatch's verdict into XMP files atomically, never clobbering.

What a verdict writes (everything else in an existing sidecar is kept as it was):

- ``digiKam:PickLabel`` 1 (reject), 2 (review), 3 (keep); ``xmp:Label`` ``Yellow`` for a
  review; ``xmp:Rating`` when the verdict decides one (-1 for a reject). A sidecar
  without ``xmp:Rating`` shows 1 star in darktable, so a decided rating is always
  written out explicitly, and none is written when blurwatch decides none.
- Tags ``blurwatch|blurry``, ``blurwatch|dark``, ``blurwatch|overexposed``,
  ``blurwatch|review`` (and ``blurwatch|burst`` as a reason) in both ``dc:subject``
  and ``lr:hierarchicalSubject``.
- blurwatch's own namespace (:data:`NAMESPACE`): ``Verdict``, ``Reasons`` (a bag),
  ``Sharpness``, ``ExposureEV``, ``Clipped``, ``Crushed``, ``SharpnessMap``,
  ``ModelVersion``, ``DecodedFrom``, ``Photo`` (the file name the verdict is about) and
  ``Scored`` (ISO 8601, changes only when something else does, so the darktable plugin
  can spot changed verdicts).
- For a frame of a burst (:mod:`blurwatch.bursts`): ``Burst`` (the group's id, the same
  in every frame of it), ``BurstSize``, ``BurstBest`` ``True`` on the pick only, and the
  tag ``blurwatch|burst``; for a bracket frame ``Bracket``, ``BracketSize``,
  ``BracketBest`` (the base exposure) and ``blurwatch|bracket``. The verdict written is
  the one after the group rule (:func:`blurwatch.bursts.decide`). Scoring a photo again
  keeps the group its sidecar records (the burst stage alone changes groups), so a
  re-run with nothing new changes no byte.

A sidecar is written only when one of these would change in meaning: values are
compared as parsed, never as bytes, so the form another program gives the file (its
packet wrapper, element order, darktable splitting ``blurwatch|blurry`` into the
keywords ``blurwatch`` and ``blurry`` in ``dc:subject``) is no reason to write.

Ownership: for each of Rating, Label and PickLabel blurwatch records the value it wrote
(``WroteRating``...) and the value it replaced (``PriorRating``...). A value that differs
from blurwatch's record was set by a person and is kept unless ``overwrite_manual_rating``
or ``force``. One exception: darktable writes ``xmp:Rating="1"``, its default for a photo
nobody rated, into the sidecar of every photo it imports, so in a darktable sidecar
blurwatch has not marked, 1 star counts as that default, not as a judgement (blurwatch
records it as the prior value). :func:`set_by_hand` is that rule, the one the writer
keeps values by and every reader (``verdict``, the report, the plugins, ``calibrate``)
reports. When a later verdict no longer wants a value blurwatch
wrote (a reject that became a keep, a review that became a keep), blurwatch puts back
the prior value, or removes its own when there was none.

This module is the policy: which keys a verdict sets and the rules above. How a sidecar
is read and merged safely is :mod:`blurwatch.xmp` (hostile files refused, every merge
verified through exiv2) and :mod:`blurwatch.packet` (the XML edit), how it is replaced
without ever leaving half a file, losing another program's save or its owner, ACL and
attributes is :mod:`blurwatch.files`; their errors reach callers as
:class:`SidecarError`. Two of them are worth a second look: a sidecar that reads as XML
cut short is read again after a moment while it keeps changing (darktable rewrites
sidecars in place, so a read can catch one half-written), and one another program saved
while blurwatch merged into it is merged into again, from what was saved, up to
:data:`MERGE_PAUSES` more times; then it is :class:`Busy`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from blurwatch import bursts, files, xmp
from blurwatch.bursts import Membership
from blurwatch.config import BurstConfig, SidecarConfig
from blurwatch.errors import Busy, FileError, SidecarError, shown
from blurwatch.pipeline import PhotoResult
from blurwatch.verdict import Verdict
from blurwatch.xmp import Value, Written

NAMESPACE = "http://ns.blurwatch.org/xmp/1.0/"
PREFIX = "blurwatch"

log = logging.getLogger(__name__)

# A sidecar another program saved while blurwatch merged into it is merged into again
# after these pauses (seconds), then left with that save and reported as busy.
MERGE_PAUSES = (0.1, 0.3, 0.9)
# A sidecar that reads as XML cut short may be a save caught half-written; it is read
# again after these pauses as long as its bytes keep changing.
READ_PAUSES = (0.2, 0.5, 1.0)

RATING = "Xmp.xmp.Rating"
LABEL = "Xmp.xmp.Label"
PICK_LABEL = "Xmp.digiKam.PickLabel"
SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
DARKTABLE_VERSION = "Xmp.darktable.xmp_version"  # in every sidecar darktable wrote
DARKTABLE_DEFAULT_RATING = "1"  # what darktable writes for a photo nobody rated

REVIEW_LABEL = "Yellow"
PICK_LABELS = {"reject": "1", "review": "2", "keep": "3"}
TAG_PREFIX = f"{PREFIX}|"  # blurwatch|blurry, blurwatch|dark, blurwatch|overexposed, blurwatch|review

# Values blurwatch sets but a person may change: XMP key -> name in blurwatch's markers.
OWNED = {RATING: "Rating", LABEL: "Label", PICK_LABEL: "PickLabel"}

xmp.register_namespace(NAMESPACE, PREFIX)


def _key(name: str) -> str:
    return f"Xmp.{PREFIX}.{name}"


VERDICT_KEY = _key("Verdict")
REASONS_KEY = _key("Reasons")
PHOTO_KEY = _key("Photo")
SCORED_KEY = _key("Scored")

# The group a verdict is written with: a membership, None (in no group), or STORED: the
# one the sidecar records already (what the per-photo job writes with).
Stored = Literal["stored"]
STORED: Stored = "stored"
GroupChoice = Membership | None | Stored


def _group_keys(kind: str) -> tuple[str, str, str]:
    """(id, size, best) keys of a group kind: ``Burst``, ``BurstSize``, ``BurstBest``."""
    name = kind.capitalize()
    return _key(name), _key(f"{name}Size"), _key(f"{name}Best")


@dataclass(frozen=True)
class StoredVerdict:
    """blurwatch's fields as read back from a sidecar (for the report, plugin, calibrate)."""

    sidecar: Path
    verdict: str
    reasons: tuple[str, ...]
    sharpness: float | None  # None: too little detail in the photo for a score
    exposure_ev: float
    clipped: float
    crushed: float
    sharpness_map: str
    model_version: str
    decoded_from: str
    rating: int | None  # the xmp:Rating now in the sidecar (whoever wrote it)
    rating_is_manual: bool  # the current rating was not written by blurwatch
    scored: str = ""  # when blurwatch last changed this verdict (ISO 8601)
    group: Membership | None = None  # the burst or bracket it belongs to


@dataclass(frozen=True)
class Merged:
    """What merging a verdict did, or would do, to one sidecar."""

    photo: Path
    sidecar: Path
    changed: bool  # False: it already held this verdict, and not a byte was written
    rating: int | None  # the xmp:Rating it holds afterwards
    rating_is_manual: bool  # that rating was set by hand (see :func:`set_by_hand`)
    kept_by_hand: tuple[str, ...] = ()  # values the verdict wanted but a person had set ("Rating", "Label"...)
    group: Membership | None = None  # the burst or bracket it records afterwards


def sidecar_paths(photo: Path, naming: str) -> list[Path]:
    """The sidecars ``naming`` calls for: darktable ``IMG_1.CR2.xmp``, adobe ``IMG_1.xmp``.

    Always a lower-case ``.xmp``: darktable does not read ``.XMP``.
    """
    darktable = photo.with_name(photo.name + ".xmp")
    adobe = photo.with_name(photo.stem + ".xmp")
    paths = {"darktable": [darktable], "adobe": [adobe], "both": [darktable, adobe]}
    if naming not in paths:
        raise ValueError(f"unknown sidecar naming {naming!r}")
    return paths[naming]


def write_verdict(photo: Path, result: PhotoResult, config: SidecarConfig, force: bool = False,
                  done: Collection[Path] = (), *, group: GroupChoice = STORED,
                  burst: BurstConfig | None = None) -> list[Path]:
    """Merge ``result`` into the photo's sidecars; return the sidecars that now hold it.

    ``done`` are sidecars this same result was just written to: the Adobe-named
    ``IMG_1.xmp`` that a RAW+JPEG pair shares gets the pair's one verdict once. A
    sidecar already holding this verdict is left byte-for-byte as it is. ``group`` is
    the burst or bracket to record, by default the one recorded already; the verdict
    written is ``result``'s after that group's rule (``burst``, default settings when
    None). Raises :class:`SidecarError` (naming the sidecar) when one cannot be merged
    into safely, and :class:`Busy` when another program saved it every time blurwatch
    merged into it.
    """
    merge_verdict(photo, result, config, force, done, group=group, burst=burst)
    return sidecar_paths(photo, config.naming)


def merge_verdict(photo: Path, result: PhotoResult, config: SidecarConfig, force: bool = False,
                  done: Collection[Path] = (), dry_run: bool = False, *, group: GroupChoice = STORED,
                  burst: BurstConfig | None = None) -> list[Merged]:
    """:func:`write_verdict`, telling what it did to each sidecar not in ``done``.

    With ``dry_run`` nothing is written: the answer is what writing would do.
    """
    rule = _Rule(force or config.overwrite_manual_rating, group, burst or BurstConfig(), config)
    merged = []
    for sidecar in sidecar_paths(photo, config.naming):
        if sidecar not in done:
            merged.append(_merge_again_if_saved(sidecar, photo, result, rule, dry_run))
    return merged


@dataclass(frozen=True)
class _Rule:
    """How a verdict is merged: whether hand-set values may go, and the group it is written with."""

    override: bool
    group: GroupChoice
    burst: BurstConfig
    sidecar: SidecarConfig


def read_verdict(photo: Path, naming: str = "darktable") -> StoredVerdict | None:
    """blurwatch's verdict for ``photo``, or None when no sidecar holds one.

    The darktable-named sidecar is read first, then the Adobe one (the other way round
    for ``naming="adobe"``).
    """
    for sidecar in _reading_order(photo, naming):
        fields = _read(sidecar).fields
        if VERDICT_KEY in fields:
            return _stored(sidecar, fields)
    return None


def read_hand_rating(photo: Path, naming: str = "darktable") -> int | None:
    """The ``xmp:Rating`` a person gave the photo (:func:`set_by_hand`), None when it has none.

    A rating blurwatch wrote, or darktable's import default, is no person's judgement.
    """
    for sidecar in _reading_order(photo, naming):
        fields = _read(sidecar).fields
        rating = _parse_rating(fields.get(RATING))
        if rating is not None:
            return rating if set_by_hand(RATING, fields) else None
    return None


def _reading_order(photo: Path, naming: str) -> list[Path]:
    both = sidecar_paths(photo, "both")
    return both[::-1] if naming == "adobe" else both


@contextlib.contextmanager
def _as_sidecar_errors() -> Iterator[None]:
    """The file layers' errors as :class:`SidecarError`; :class:`files.Changed` and :class:`xmp.Unfinished` pass,
    for a retry."""
    try:
        yield
    except (SidecarError, files.Changed, xmp.Unfinished):
        raise
    except FileError as exc:
        raise SidecarError(exc.path, exc.reason) from exc


def _merge_again_if_saved(sidecar: Path, photo: Path, result: PhotoResult, rule: _Rule,
                          dry_run: bool) -> Merged:
    """:func:`_merge`, again from the new content each time another program saved the sidecar meanwhile."""
    for attempt, pause in enumerate((*MERGE_PAUSES, None), start=1):
        try:
            with _as_sidecar_errors():
                return _merge(sidecar, photo, result, rule, dry_run)
        except files.Changed as exc:
            if pause is None:
                raise Busy(sidecar, f"was saved, or open for writing, by another program each of the {attempt} times "
                                    "blurwatch merged its verdict into it; left with that program's version, without "
                                    "a verdict") from exc
            log.info("%s: saved by another program while blurwatch merged into it; merging into the new "
                     "content", shown(sidecar))
            time.sleep(pause)
    raise AssertionError("unreachable")


def _read(sidecar: Path) -> xmp.Sidecar:
    """The sidecar, read again after a moment while it reads as XML cut short and its bytes keep changing.

    darktable rewrites a sidecar in place, so a read can catch one half-written.
    """
    seen: bytes | None = None
    for pause in (*READ_PAUSES, None):
        try:
            with _as_sidecar_errors():
                return xmp.read(sidecar)
        except xmp.Unfinished as exc:
            if exc.data == seen:
                raise SidecarError(sidecar, f"{exc.reason} (the same a moment later, so no save in progress); "
                                            "left as it is") from exc
            if pause is None:
                raise SidecarError(sidecar, f"{exc.reason} and still changing after "
                                            f"{sum(READ_PAUSES):.1f} s; left as it is") from exc
            seen = exc.data
            log.debug("%s; reading it again in %.1f s (a save in progress?)", exc, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _merge(sidecar: Path, photo: Path, result: PhotoResult, rule: _Rule, dry_run: bool) -> Merged:
    """Write ``result`` (after its group's rule) into one sidecar unless it already holds that in meaning."""
    loaded = _read(sidecar)
    group = _stored_group(loaded.fields) if rule.group == STORED else rule.group
    decided = bursts.decide(result, group, rule.burst, rule.sidecar)
    changes, kept = _plan(sidecar, loaded.fields, photo, decided, rule.override, group)
    other = _shared_with(sidecar, photo, loaded.fields)
    if other is not None:
        del changes[PHOTO_KEY]
        if changes:
            raise SidecarError(sidecar, f"holds another verdict, for {other}, which shares this Adobe-style "
                                        "sidecar; use darktable naming to keep their verdicts apart")
    after = {key: value for key, value in {**loaded.fields, **changes}.items() if value is not None}
    merged = Merged(photo, sidecar, bool(changes), _parse_rating(after.get(RATING)), set_by_hand(RATING, after), kept,
                    group)
    if not changes:
        log.debug("%s: already holds this verdict, left unchanged", shown(sidecar))
    elif not dry_run:
        changes[SCORED_KEY] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        files.replace_unchanged(loaded.file, xmp.merge(loaded, changes))
        log.debug("%s: wrote verdict %s", shown(sidecar), decided.verdict.decision)
    return merged


def _shared_with(sidecar: Path, photo: Path, fields: Mapping[str, Value]) -> str | None:
    """The other photo whose verdict this Adobe-named sidecar holds, if that photo is still there.

    ``IMG_1.CR2`` and ``IMG_1.JPG`` share ``IMG_1.xmp``. The pair's one verdict is written
    once; a different verdict for one of them is refused rather than have the two
    overwrite each other on every run. A darktable-named sidecar belongs to its photo
    alone, even when the photo was renamed or copied.
    """
    name = shown(photo.name)
    other = _text(fields.get(PHOTO_KEY), name)
    if other == name or sidecar.name == photo.name + ".xmp":
        return None
    return other if _present(sidecar.parent, other) else None


def _present(folder: Path, name: str) -> bool:
    """Whether a file :func:`shown` as ``name`` is in ``folder`` (a name not UTF-8 is kept escaped)."""
    if (folder / name).exists():
        return True
    return "\\" in name and any(shown(entry.name) == name for entry in folder.iterdir())


# --- reading -----------------------------------------------------------------------


def _stored(sidecar: Path, fields: Mapping[str, Value]) -> StoredVerdict:
    rating = _parse_rating(fields.get(RATING))
    try:
        return StoredVerdict(
            sidecar=sidecar,
            verdict=_text(fields.get(VERDICT_KEY)),
            reasons=tuple(_as_list(fields.get(REASONS_KEY))),
            sharpness=_optional_number(fields.get(_key("Sharpness"))),
            exposure_ev=float(_text(fields.get(_key("ExposureEV")), "nan")),
            clipped=float(_text(fields.get(_key("Clipped")), "nan")),
            crushed=float(_text(fields.get(_key("Crushed")), "nan")),
            sharpness_map=_text(fields.get(_key("SharpnessMap"))),
            model_version=_text(fields.get(_key("ModelVersion"))),
            decoded_from=_text(fields.get(_key("DecodedFrom"))),
            rating=rating,
            rating_is_manual=set_by_hand(RATING, fields),
            scored=_text(fields.get(SCORED_KEY)),
            group=_stored_group(fields),
        )
    except ValueError as exc:
        raise SidecarError(sidecar, f"has a blurwatch score that is not a number: {exc}") from exc


# --- deciding what to change -------------------------------------------------------


def _stored_group(fields: Mapping[str, Value]) -> Membership | None:
    """The burst or bracket a sidecar records (a broken record counts as none)."""
    for kind in bursts.KINDS:
        id_key, size_key, best_key = _group_keys(kind)
        group_id, size = _text(fields.get(id_key)), _text(fields.get(size_key))
        if group_id and size.isdigit():
            return Membership(kind, group_id, int(size), fields.get(best_key) == "True")
    return None


def _plan(sidecar: Path, fields: Mapping[str, Value], photo: Path, result: PhotoResult,
          override: bool, group: Membership | None) -> tuple[dict[str, Written | None], tuple[str, ...]]:
    """The keys whose values must change (None = remove the key), and the owned values kept as set by hand."""
    wanted = _verdict_fields(photo, result)
    wanted.update(_group_fields(group))
    owned, kept = _owned_fields(sidecar, fields, result, override)
    wanted.update(owned)
    wanted.update(_tag_fields(fields, result.verdict, group))
    return {key: value for key, value in wanted.items() if not _same(fields.get(key), value)}, kept


def _group_fields(group: Membership | None) -> dict[str, Written | None]:
    """Every group key: this group's values, None (removed) for the others."""
    wanted: dict[str, Written | None] = {}
    for kind in bursts.KINDS:
        id_key, size_key, best_key = _group_keys(kind)
        ours = group is not None and group.kind == kind
        wanted[id_key] = group.id if group is not None and ours else None
        wanted[size_key] = str(group.size) if group is not None and ours else None
        wanted[best_key] = "True" if group is not None and ours and group.best else None
    return wanted


def _verdict_fields(photo: Path, result: PhotoResult) -> dict[str, Written | None]:
    """blurwatch's own namespace, from the same numbers as ``--json`` prints."""
    data = result.to_json()
    scores = data["scores"]
    return {
        VERDICT_KEY: data["verdict"],
        REASONS_KEY: list(data["reasons"]) or None,
        _key("Sharpness"): None if scores["sharpness"] is None else str(scores["sharpness"]),  # None: no score
        _key("ExposureEV"): str(scores["exposure_ev"]),
        _key("Clipped"): str(scores["clipped"]),
        _key("Crushed"): str(scores["crushed"]),
        _key("SharpnessMap"): data["sharpness_map"],
        _key("ModelVersion"): data["model_version"],
        _key("DecodedFrom"): data["decoded_from"],
        PHOTO_KEY: shown(photo.name),  # XMP text is Unicode: a name not UTF-8 is kept escaped
    }


def _owned_fields(sidecar: Path, fields: Mapping[str, Value], result: PhotoResult,
                  override: bool) -> tuple[dict[str, Written | None], tuple[str, ...]]:
    """Rating, Label and PickLabel with blurwatch's markers by the ownership rule; and those kept as set by hand."""
    decision = result.verdict.decision
    wanted = {
        RATING: None if result.rating is None else str(result.rating),
        LABEL: REVIEW_LABEL if decision == "review" else None,
        PICK_LABEL: PICK_LABELS[decision],
    }
    changes: dict[str, Written | None] = {}
    kept = []
    for key, want in wanted.items():
        wrote_key, prior_key = _marker("Wrote", key), _marker("Prior", key)
        current, wrote = _optional_text(fields.get(key)), _optional_text(fields.get(wrote_key))
        value, wrote, prior = _decide_owned(current, wrote, _optional_text(fields.get(prior_key)), want,
                                            set_by_hand(key, fields) and not override)
        if want is not None and value != want:
            log.info("%s: keeping %s %s set by hand (force or overwrite_manual_rating replaces it)",
                     shown(sidecar), OWNED[key], current)
            kept.append(OWNED[key])
        changes.update({key: value, wrote_key: wrote, prior_key: prior})
    return changes, tuple(kept)


def set_by_hand(key: str, fields: Mapping[str, Value]) -> bool:
    """Whether the owned value ``key`` (Rating, Label, PickLabel) in ``fields`` was set by a person.

    It was when it is there and differs from what blurwatch recorded writing, unless it
    is darktable's import default (:func:`_darktable_default`). The writer keeps such a
    value; every reader reports it by this same rule.
    """
    current, wrote = _optional_text(fields.get(key)), _optional_text(fields.get(_marker("Wrote", key)))
    return current is not None and current != wrote and not _darktable_default(key, current, wrote, fields)


def _darktable_default(key: str, current: str | None, wrote: str | None, fields: Mapping[str, Value]) -> bool:
    """Whether ``current`` is the 1 star darktable wrote on import rather than anybody's rating.

    darktable cannot tell its default from a star given by hand, so neither can blurwatch;
    reading the default as a judgement would leave every photo imported before blurwatch
    scored it at 1 star, blurry or not. The value is kept as the prior, so nothing is lost.
    """
    return (key == RATING and current == DARKTABLE_DEFAULT_RATING and wrote is None
            and DARKTABLE_VERSION in fields)


def _decide_owned(current: str | None, wrote: str | None, prior: str | None, want: str | None,
                  keep: bool) -> tuple[str | None, str | None, str | None]:
    """(value, value blurwatch now owns, value it replaced) for one owned field.

    ``current`` is what the sidecar holds, ``wrote`` and ``prior`` blurwatch's markers,
    ``want`` the verdict's value (None = no opinion), ``keep`` whether ``current`` was
    set by hand and must stay. A value blurwatch did not write (a person's, or
    darktable's default) stays when the verdict has no opinion, and is recorded as the
    prior when the verdict replaces it.
    """
    theirs = current is not None and current != wrote
    if want is None:
        return (current, None, None) if theirs or current is None else (prior, None, None)
    if keep:  # the markers stay: they tell a 1 star given by hand from darktable's default
        return current, wrote, prior
    return want, want, current if theirs else prior


def _tag_fields(fields: Mapping[str, Value], verdict: Verdict, group: Membership | None) -> dict[str, Written | None]:
    """Both keyword bags: the user's keywords kept, blurwatch's replaced by this verdict's.

    darktable reads only ``lr:hierarchicalSubject`` when it is there, so a newly created
    one starts with the user's ``dc:subject`` keywords. darktable also writes each part
    of a hierarchical tag into ``dc:subject`` (``blurwatch``, ``blurry``) in place of the
    tag: that form holds the tag as well, and the parts of a tag blurwatch withdraws go
    with it, unless another tag still has them.
    """
    ours = _verdict_tags(verdict, group)
    hierarchy = _as_list(fields.get(HIERARCHY))
    withdrawn = _parts(tag for tag in hierarchy if tag.startswith(TAG_PREFIX) and tag not in ours)
    stale = withdrawn - _parts(_without_ours(hierarchy) + ours)
    subject = [tag for tag in _without_ours(fields.get(SUBJECT)) if tag not in stale]
    base = _without_ours(hierarchy) if hierarchy else subject
    new_hierarchy = base + ours if hierarchy or ours else []
    subject += [tag for tag in ours if tag in _as_list(fields.get(SUBJECT)) or not _split(tag, hierarchy, subject)]
    return {SUBJECT: subject or None, HIERARCHY: new_hierarchy or None}


def _split(tag: str, hierarchy: list[str], subject: list[str]) -> bool:
    """Whether darktable holds ``tag`` of the hierarchy in ``subject`` as its parts, in place of the tag."""
    return tag in hierarchy and set(tag.split("|")) <= set(subject)


def _parts(tags: Iterable[str]) -> set[str]:
    return {part for tag in tags for part in tag.split("|")}


def _verdict_tags(verdict: Verdict, group: Membership | None) -> list[str]:
    tags = [f"{TAG_PREFIX}review"] if verdict.decision == "review" else []
    if verdict.decision != "keep":
        tags += [f"{TAG_PREFIX}{reason}" for reason in verdict.reasons]
    if group is not None:
        tags.append(f"{TAG_PREFIX}{group.kind}")
    return list(dict.fromkeys(tags))


def _without_ours(value: Value | None) -> list[str]:
    return [tag for tag in _as_list(value) if not tag.startswith(TAG_PREFIX)]


def _marker(kind: str, key: str) -> str:
    return _key(kind + OWNED[key])


def _same(current: Value | None, wanted: Value | None) -> bool:
    """Equal as XMP: bags compare without order, an empty bag equals no bag."""
    if isinstance(current, list) or isinstance(wanted, list):
        return sorted(_as_list(current)) == sorted(_as_list(wanted))
    return current == wanted


# --- small conversions -------------------------------------------------------------


def _as_list(value: Value | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _text(value: Value | None, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _optional_text(value: Value | None) -> str | None:
    return value if isinstance(value, str) else None


def _optional_number(value: Value | None) -> float | None:
    return None if value is None else float(_text(value))


def _parse_rating(value: Value | None) -> int | None:
    """``xmp:Rating`` as an int (-1 rejected, 0-5 stars); None when absent or garbled."""
    try:
        return int(float(_text(value, "nan")))
    except (ValueError, OverflowError):
        return None
