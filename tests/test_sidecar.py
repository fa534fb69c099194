"""Sidecar writing and reading: real exiv2 (pyexiv2), checked with exiftool, the exiv2 CLI and darktable."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pyexiv2
import pytest

from blurwatch import files, sidecar, xmp
from blurwatch.bursts import Membership
from blurwatch.config import SidecarConfig
from blurwatch.errors import Busy, FileError, SidecarError
from blurwatch.pipeline import PhotoResult
from blurwatch.verdict import REASONS
from conftest import requires_program
from helpers.results import DEFAULT_REASONS, photo_result

FIXTURES = Path(__file__).parent / "fixtures" / "sidecars"
DARKTABLE_FIXTURE = FIXTURES / "darktable-4.2.1.jpg.xmp"
ADOBE_FIXTURE = FIXTURES / "adobe-photoshop-cs2.xmp"
ALL_FIXTURES = sorted(FIXTURES.glob("*.xmp"))

# Not a timing target: a bound that turns a hang into a failure.
HANG_GUARD_SECONDS = 10.0


def result(decision: str = "reject", reasons: tuple[str, ...] | None = None, rating: int | None | str = "auto",
           score: float = 0.1234) -> PhotoResult:
    """A judging result as the job hands it to the writer; no model needed."""
    return photo_result(Path("IMG_0001.jpg"), decision, reasons, rating=rating, score=score)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A small real JPEG: the original the writer must never touch."""
    path = tmp_path / "IMG_0001.jpg"
    pixels = np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    path.write_bytes(cv2.imencode(".jpg", pixels)[1].tobytes())
    return path


def existing_sidecar(photo: Path, fixture: Path = DARKTABLE_FIXTURE) -> Path:
    """``fixture`` as the photo's darktable-named sidecar."""
    path = photo.with_name(photo.name + ".xmp")
    shutil.copyfile(fixture, path)
    return path


def keyword_sidecar(photo: Path, properties: str) -> Path:
    """The photo's darktable-named sidecar holding just ``properties`` (dc: and lr: elements)."""
    path = photo.with_name(photo.name + ".xmp")
    path.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:lr="http://ns.adobe.com/lightroom/1.0/">{properties}</rdf:Description></rdf:RDF></x:xmpmeta>',
        encoding="utf-8")
    return path


def properties(path: Path) -> dict:
    """Every XMP property as exiv2 flattens it."""
    image = pyexiv2.ImageData(path.read_bytes())
    try:
        return image.read_xmp()
    finally:
        image.close()


def exiftool(path: Path) -> dict:
    """Every property as exiftool (an independent XMP parser) reads it, raw values."""
    out = subprocess.run(["exiftool", "-j", "-G1", "-struct", "-n", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {k: v for k, v in json.loads(out)[0].items() if k.startswith("XMP-")}


def listed(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*blurwatch-tmp"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- naming ------------------------------------------------------------------------


def test_sidecar_paths_follow_the_naming_option_with_a_lower_case_extension() -> None:
    photo = Path("/photos/IMG_0001.CR2")
    assert sidecar.sidecar_paths(photo, "darktable") == [Path("/photos/IMG_0001.CR2.xmp")]
    assert sidecar.sidecar_paths(photo, "adobe") == [Path("/photos/IMG_0001.xmp")]
    assert sidecar.sidecar_paths(photo, "both") == [Path("/photos/IMG_0001.CR2.xmp"), Path("/photos/IMG_0001.xmp")]
    with pytest.raises(ValueError):
        sidecar.sidecar_paths(photo, "lightroom")


@pytest.mark.parametrize("naming", ["darktable", "adobe", "both"])
def test_write_creates_exactly_the_named_sidecars(photo: Path, naming: str) -> None:
    written = sidecar.write_verdict(photo, result(), SidecarConfig(naming=naming))
    expected = sidecar.sidecar_paths(photo, naming)
    assert written == expected
    assert sorted(photo.parent.glob("*.xmp")) == sorted(expected)


def test_darktable_naming_leaves_an_existing_adobe_sidecar_alone(photo: Path) -> None:
    adobe = photo.with_name("IMG_0001.xmp")
    shutil.copyfile(ADOBE_FIXTURE, adobe)
    sidecar.write_verdict(photo, result(), SidecarConfig(naming="darktable"))
    assert adobe.read_bytes() == ADOBE_FIXTURE.read_bytes()
    assert photo.with_name("IMG_0001.jpg.xmp").is_file()


def test_the_original_photo_is_never_changed(photo: Path) -> None:
    before, mtime = sha256(photo), photo.stat().st_mtime_ns
    for decision in ("reject", "review", "keep"):
        sidecar.write_verdict(photo, result(decision), SidecarConfig(naming="both"), force=True)
        sidecar.read_verdict(photo)
    assert sha256(photo) == before
    assert photo.stat().st_mtime_ns == mtime


# --- what a verdict writes -----------------------------------------------------------


@pytest.mark.integration
@requires_program("exiftool")
@pytest.mark.parametrize("decision", ["reject", "review", "keep"])
def test_new_sidecar_read_back_with_exiftool(photo: Path, decision: str) -> None:
    [path] = sidecar.write_verdict(photo, result(decision), SidecarConfig())
    tags = exiftool(path)
    assert tags["XMP-digiKam:PickLabel"] == {"reject": 1, "review": 2, "keep": 3}[decision]
    ours = {"reject": ["blurwatch|blurry", "blurwatch|dark"], "review": ["blurwatch|review", "blurwatch|blurry"],
            "keep": []}[decision]
    assert listed(tags.get("XMP-dc:Subject")) == ours
    assert listed(tags.get("XMP-lr:HierarchicalSubject")) == ours
    if decision == "reject":
        assert tags["XMP-xmp:Rating"] == -1
    else:
        assert "XMP-xmp:Rating" not in tags  # blurwatch decided none: darktable's default applies
    assert tags.get("XMP-xmp:Label") == ("Yellow" if decision == "review" else None)
    assert tags["XMP-blurwatch:Verdict"] == decision
    assert listed(tags.get("XMP-blurwatch:Reasons")) == list(DEFAULT_REASONS[decision])
    assert tags["XMP-blurwatch:Sharpness"] == 0.1234
    assert tags["XMP-blurwatch:ExposureEV"] == -2.75
    assert tags["XMP-blurwatch:Clipped"] == 0.0123
    assert tags["XMP-blurwatch:Crushed"] == 0.2468
    assert tags["XMP-blurwatch:SharpnessMap"] == result().to_json()["sharpness_map"]
    assert tags["XMP-blurwatch:ModelVersion"] == "test-model-1"
    assert tags["XMP-blurwatch:DecodedFrom"] == "jpeg"
    assert tags["XMP-blurwatch:Photo"] == "IMG_0001.jpg"


@pytest.mark.integration
@requires_program("exiv2")
def test_new_sidecar_read_back_with_the_exiv2_cli(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("review", rating=2), SidecarConfig())
    out = subprocess.run(["exiv2", "-px", str(path)], check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        key, kind, count, *value = line.split(maxsplit=3)
        rows[key] = (kind, int(count), value[0] if value else "")
    assert rows["Xmp.xmp.Rating"] == ("XmpText", 1, "2")
    assert rows["Xmp.xmp.Label"] == ("XmpText", 6, "Yellow")
    assert rows["Xmp.digiKam.PickLabel"] == ("XmpText", 1, "2")
    assert rows["Xmp.dc.subject"] == ("XmpBag", 2, "blurwatch|review, blurwatch|blurry")
    assert rows["Xmp.lr.hierarchicalSubject"] == ("XmpBag", 2, "blurwatch|review, blurwatch|blurry")
    assert rows["Xmp.blurwatch.Verdict"][2] == "review"
    assert rows["Xmp.blurwatch.Reasons"][:2] == ("XmpBag", 1)


def test_a_decided_rating_is_written_explicitly_and_none_is_not_invented(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig())
    assert "Xmp.xmp.Rating" not in properties(path)
    sidecar.write_verdict(photo, result("keep", rating=4), SidecarConfig())
    assert properties(path)["Xmp.xmp.Rating"] == "4"


def test_blurwatch_keywords_never_contain_a_comma_space(photo: Path) -> None:
    faults = ("blurry", "dark", "overexposed")
    [path] = sidecar.write_verdict(photo, result("reject", faults), SidecarConfig())
    fields = properties(path)
    assert fields["Xmp.dc.subject"] == [f"blurwatch|{fault}" for fault in faults]
    sidecar.write_verdict(photo, result("review", REASONS), SidecarConfig())
    fields = properties(path)
    assert "blurwatch|review" in fields["Xmp.dc.subject"]
    assert not any(", " in item for key in ("Xmp.dc.subject", "Xmp.lr.hierarchicalSubject", "Xmp.blurwatch.Reasons")
                   for item in fields[key])


def test_scored_is_an_iso_8601_timestamp(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result(), SidecarConfig())
    assert datetime.fromisoformat(properties(path)["Xmp.blurwatch.Scored"]).tzinfo is not None


# --- merging into existing sidecars --------------------------------------------------


@pytest.mark.integration
@requires_program("exiftool")
def test_merge_keeps_every_darktable_property(photo: Path) -> None:
    path = existing_sidecar(photo)
    before = exiftool(path)
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    after = exiftool(path)
    darktable = {key: value for key, value in before.items() if key.startswith("XMP-darktable:")}
    assert {"XMP-darktable:History", "XMP-darktable:Xmp_version", "XMP-darktable:Masks_history"} <= darktable.keys()
    assert {key: after.get(key) for key in darktable} == darktable
    assert len(after["XMP-darktable:History"]) == 4
    assert all(entry["Params"] for entry in after["XMP-darktable:History"])


@pytest.mark.integration
@requires_program("exiftool")
@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: p.name)
def test_merge_keeps_everything_that_is_not_blurwatchs(photo: Path, fixture: Path) -> None:
    path = existing_sidecar(photo, fixture)
    before = exiftool(path)
    sidecar.write_verdict(photo, result("review"), SidecarConfig())
    after = exiftool(path)
    changed = {"XMP-x:XMPToolkit", "XMP-xmp:Label", "XMP-digiKam:PickLabel", "XMP-dc:Subject",
               "XMP-lr:HierarchicalSubject"}
    kept = {key: value for key, value in before.items() if key not in changed}
    assert {key: after.get(key) for key in kept} == kept
    assert after["XMP-blurwatch:Verdict"] == "review"


def test_user_keywords_are_kept_in_both_bags(photo: Path) -> None:
    path = existing_sidecar(photo)
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    fields = properties(path)
    assert fields["Xmp.dc.subject"] == ["Lisbon", "holiday", "places", "blurwatch|blurry", "blurwatch|dark"]
    assert fields["Xmp.lr.hierarchicalSubject"] == ["holiday", "places|Lisbon", "blurwatch|blurry", "blurwatch|dark"]


def test_a_new_hierarchical_subject_carries_the_users_keywords(photo: Path) -> None:
    path = existing_sidecar(photo, ADOBE_FIXTURE)
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    user = ["XMP", "Blue Square", "test file", "Photoshop", ".jpg"]
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == user + ["blurwatch|blurry", "blurwatch|dark"]


def test_a_keep_does_not_create_a_hierarchical_subject(photo: Path) -> None:
    path = existing_sidecar(photo, ADOBE_FIXTURE)
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    fields = properties(path)
    assert "Xmp.lr.hierarchicalSubject" not in fields
    assert fields["Xmp.dc.subject"] == ["XMP", "Blue Square", "test file", "Photoshop", ".jpg"]


def test_an_empty_hierarchical_subject_is_filled_like_a_new_one(photo: Path) -> None:
    path = keyword_sidecar(photo, "<dc:subject><rdf:Seq><rdf:li>owl</rdf:li></rdf:Seq></dc:subject>"
                                  "<lr:hierarchicalSubject><rdf:Seq/></lr:hierarchicalSubject>")
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == []  # nothing to add: left as it was
    sidecar.write_verdict(photo, result("reject", ("blurry",)), SidecarConfig())
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == ["owl", "blurwatch|blurry"]


def test_a_user_keyword_with_a_comma_stays_one_keyword(photo: Path) -> None:
    path = keyword_sidecar(photo, "<dc:subject><rdf:Bag><rdf:li>Smith, John</rdf:li><rdf:li>beach</rdf:li></rdf:Bag>"
                                  "</dc:subject>")
    sidecar.write_verdict(photo, result("reject", ("blurry",)), SidecarConfig())
    assert properties(path)["Xmp.dc.subject"] == ["Smith, John", "beach", "blurwatch|blurry"]
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == ["Smith, John", "beach", "blurwatch|blurry"]


# --- ownership: what a person set stays ------------------------------------------------


def test_a_manual_rating_is_kept(photo: Path) -> None:
    path = existing_sidecar(photo)  # darktable wrote a rating of 3
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    fields = properties(path)
    assert fields["Xmp.xmp.Rating"] == "3"
    assert fields["Xmp.digiKam.PickLabel"] == "1"
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.rating == 3 and stored.rating_is_manual


@pytest.mark.parametrize("how", ["force", "config"])
def test_a_manual_rating_is_replaced_when_asked_and_restored_later(photo: Path, how: str) -> None:
    path = existing_sidecar(photo)
    config = SidecarConfig(overwrite_manual_rating=how == "config")
    sidecar.write_verdict(photo, result("reject"), config, force=how == "force")
    assert properties(path)["Xmp.xmp.Rating"] == "-1"
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.rating == -1 and not stored.rating_is_manual
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())  # e.g. after a sensitivity change
    assert properties(path)["Xmp.xmp.Rating"] == "3"


def test_a_rating_changed_by_hand_after_blurwatch_is_kept(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    set_property(path, "Xmp.xmp.Rating", "2")  # the photographer disagrees
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    assert properties(path)["Xmp.xmp.Rating"] == "2"
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.rating_is_manual


def test_darktables_import_default_of_one_star_is_not_a_judgement(photo: Path) -> None:
    path = existing_sidecar(photo)
    set_property(path, "Xmp.xmp.Rating", "1")  # what darktable writes on import for everything
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    assert properties(path)["Xmp.xmp.Rating"] == "-1"
    stored = sidecar.read_verdict(photo)  # read back: blurwatch's own rating, the default kept as the prior
    assert stored is not None and stored.rating == -1 and not stored.rating_is_manual
    assert properties(path)["Xmp.blurwatch.PriorRating"] == "1"
    assert sidecar.read_hand_rating(photo) is None
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())  # the default comes back
    assert properties(path)["Xmp.xmp.Rating"] == "1"
    assert sidecar.read_hand_rating(photo) is None and "Xmp.blurwatch.WroteRating" not in properties(path)


@pytest.mark.parametrize("decision", ["keep", "review"])
def test_darktables_default_after_a_verdict_without_a_rating_is_not_called_manual(photo: Path, decision: str) -> None:
    path = existing_sidecar(photo)
    set_property(path, "Xmp.xmp.Rating", "1")  # darktable imported the photo (it writes 1 star, not 3)
    sidecar.write_verdict(photo, result(decision), SidecarConfig())  # keeper/review rating "unchanged"
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.rating == 1 and not stored.rating_is_manual
    [merged] = sidecar.merge_verdict(photo, result(decision), SidecarConfig(), dry_run=True)
    assert (merged.changed, merged.rating, merged.rating_is_manual, merged.kept_by_hand) == (False, 1, False, ())


def test_the_writer_and_the_reader_share_the_rule_for_set_by_hand(photo: Path) -> None:
    """Whatever the sidecar holds, the writer keeps a rating exactly when the reader calls it manual."""
    cases = [("3", None, True), ("1", None, False), ("1", "-1", True), ("-1", "-1", False), (None, None, False)]
    for rating, wrote, darktable in [(r, w, d) for r, w, _ in cases for d in (True, False)]:
        path = existing_sidecar(photo) if darktable else existing_sidecar(photo, FIXTURES / "exiftool-XMP5.xmp")
        for key, value in (("Xmp.xmp.Rating", rating), ("Xmp.blurwatch.WroteRating", wrote)):
            if value is not None:
                set_property(path, key, value)
            else:
                remove_property(path, key)
        manual = sidecar.set_by_hand(sidecar.RATING, properties(path))
        [merged] = sidecar.merge_verdict(photo, result("reject", rating=-2), SidecarConfig())
        assert (merged.kept_by_hand == ("Rating",)) == manual, (rating, wrote, darktable)
        assert merged.rating_is_manual == manual and sidecar.read_verdict(photo).rating_is_manual == manual


def test_merge_verdict_tells_what_it_did_and_a_dry_run_writes_nothing(photo: Path) -> None:
    path = existing_sidecar(photo)  # a rating of 3 given by hand
    before = path.read_bytes()
    [planned] = sidecar.merge_verdict(photo, result("reject"), SidecarConfig(), dry_run=True)
    assert path.read_bytes() == before
    assert planned == sidecar.Merged(photo, path, True, 3, True, ("Rating",))
    [written] = sidecar.merge_verdict(photo, result("reject"), SidecarConfig())
    assert written == planned and path.read_bytes() != before
    [again] = sidecar.merge_verdict(photo, result("reject"), SidecarConfig())
    assert (again.changed, again.kept_by_hand) == (False, ("Rating",))
    [forced] = sidecar.merge_verdict(photo, result("reject"), SidecarConfig(), force=True)
    assert forced == sidecar.Merged(photo, path, True, -1, False, ())


def test_one_star_in_a_sidecar_darktable_did_not_write_is_a_judgement(photo: Path) -> None:
    path = existing_sidecar(photo, FIXTURES / "exiftool-XMP5.xmp")
    set_property(path, "Xmp.xmp.Rating", "1")
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    assert properties(path)["Xmp.xmp.Rating"] == "1"


def test_one_star_given_after_blurwatchs_verdict_is_a_judgement(photo: Path) -> None:
    path = existing_sidecar(photo)
    sidecar.write_verdict(photo, result("reject"), SidecarConfig(), force=True)
    set_property(path, "Xmp.xmp.Rating", "1")
    for _ in range(2):  # and on the run after: keeping it does not make it look like darktable's default
        sidecar.write_verdict(photo, result("reject"), SidecarConfig())
        assert properties(path)["Xmp.xmp.Rating"] == "1"
        assert sidecar.read_verdict(photo).rating_is_manual


def test_a_manual_label_and_pick_label_are_kept(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("review"), SidecarConfig())
    set_property(path, "Xmp.xmp.Label", "Red")  # in Lightroom
    set_property(path, "Xmp.digiKam.PickLabel", "3")  # accepted in digiKam
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    fields = properties(path)
    assert (fields["Xmp.xmp.Label"], fields["Xmp.digiKam.PickLabel"]) == ("Red", "3")
    sidecar.write_verdict(photo, result("review"), SidecarConfig(), force=True)
    fields = properties(path)
    assert (fields["Xmp.xmp.Label"], fields["Xmp.digiKam.PickLabel"]) == ("Yellow", "2")
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    fields = properties(path)
    assert (fields["Xmp.xmp.Label"], fields["Xmp.digiKam.PickLabel"]) == ("Red", "3")


def set_property(path: Path, key: str, value: str | list[str]) -> None:
    """Another program (darktable, digiKam) changes one property of the sidecar."""
    image = pyexiv2.ImageData(path.read_bytes())
    try:
        image.clear_exif()
        image.clear_iptc()
        image.modify_xmp({key: value})
        path.write_bytes(image.get_bytes())
    finally:
        image.close()


def remove_property(path: Path, key: str) -> None:
    image = pyexiv2.ImageData(path.read_bytes())
    try:
        image.clear_exif()
        image.clear_iptc()
        image.modify_xmp({key: None})
        path.write_bytes(image.get_bytes())
    finally:
        image.close()


# --- changes and re-runs ---------------------------------------------------------------


@pytest.mark.parametrize("decision", ["reject", "review", "keep"])
@pytest.mark.parametrize("existing", [None, DARKTABLE_FIXTURE], ids=["new", "darktable"])
def test_rerunning_with_the_same_outcome_changes_nothing(photo: Path, decision: str, existing: Path | None) -> None:
    if existing is not None:
        existing_sidecar(photo, existing)
    [path] = sidecar.write_verdict(photo, result(decision), SidecarConfig())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.read_bytes()
    assert sidecar.write_verdict(photo, result(decision), SidecarConfig()) == [path]
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert leftovers(photo.parent) == []


def test_a_review_that_becomes_a_keep_loses_its_label_and_tags(photo: Path) -> None:
    path = existing_sidecar(photo)
    sidecar.write_verdict(photo, result("review"), SidecarConfig())
    assert properties(path)["Xmp.xmp.Label"] == "Yellow"
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    fields = properties(path)
    assert "Xmp.xmp.Label" not in fields
    assert "Xmp.blurwatch.Reasons" not in fields
    assert fields["Xmp.digiKam.PickLabel"] == "3"
    assert fields["Xmp.dc.subject"] == ["Lisbon", "holiday", "places"]
    assert fields["Xmp.lr.hierarchicalSubject"] == ["holiday", "places|Lisbon"]


def test_a_reject_that_becomes_a_keep_loses_blurwatchs_rating(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    fields = properties(path)
    assert "Xmp.xmp.Rating" not in fields
    assert "Xmp.dc.subject" not in fields and "Xmp.lr.hierarchicalSubject" not in fields


def test_the_keywords_darktable_split_from_a_withdrawn_tag_go_with_it(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject", ("blurry",)), SidecarConfig())
    # darktable rewrote the sidecar: every part of a hierarchical tag is a keyword too
    set_property(path, "Xmp.dc.subject", ["blurwatch", "blurry", "blurwatch|blurry", "beach", "places", "Lisbon"])
    set_property(path, "Xmp.lr.hierarchicalSubject", ["blurwatch|blurry", "beach", "places|Lisbon"])
    sidecar.write_verdict(photo, result("reject", ("blurry",)), SidecarConfig())  # same verdict: untouched
    assert sorted(properties(path)["Xmp.dc.subject"]) == ["Lisbon", "beach", "blurry", "blurwatch", "blurwatch|blurry",
                                                         "places"]
    sidecar.write_verdict(photo, result("reject", ("dark",)), SidecarConfig())
    assert sorted(properties(path)["Xmp.dc.subject"]) == ["Lisbon", "beach", "blurwatch", "blurwatch|dark", "places"]
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    assert sorted(properties(path)["Xmp.dc.subject"]) == ["Lisbon", "beach", "places"]
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == ["beach", "places|Lisbon"]


@pytest.mark.parametrize("decision", ["reject", "review"])
def test_darktables_split_keywords_are_no_reason_to_write(photo: Path, decision: str) -> None:
    """darktable 4.2 rewrites dc:subject with the parts of each tag in place of the tag itself."""
    [path] = sidecar.write_verdict(photo, result(decision, ("blurry",)), SidecarConfig())
    ours = properties(path)["Xmp.lr.hierarchicalSubject"]
    set_property(path, "Xmp.dc.subject", sorted({part for tag in ours for part in tag.split("|")} | {"beach"}))
    set_property(path, "Xmp.lr.hierarchicalSubject", [*ours, "beach"])
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.read_bytes()
    [merged] = sidecar.merge_verdict(photo, result(decision, ("blurry",)), SidecarConfig())
    assert not merged.changed and path.read_bytes() == before and path.stat().st_mtime_ns == 1_000_000_000
    sidecar.write_verdict(photo, result(decision, ("dark",)), SidecarConfig())  # a new tag is written whole
    assert "blurwatch|dark" in properties(path)["Xmp.dc.subject"]
    assert "blurry" not in properties(path)["Xmp.dc.subject"]


def test_a_users_own_keyword_that_matches_a_part_is_kept(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject", ("blurry",)), SidecarConfig())
    set_property(path, "Xmp.dc.subject", ["blurwatch", "blurry", "blurwatch|blurry", "effects"])
    set_property(path, "Xmp.lr.hierarchicalSubject", ["blurwatch|blurry", "effects|blurry"])
    sidecar.write_verdict(photo, result("keep"), SidecarConfig())
    assert sorted(properties(path)["Xmp.dc.subject"]) == ["blurry", "effects"]
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == ["effects|blurry"]


def test_a_changed_reason_replaces_the_stale_tag(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject", ("blurry", "dark")), SidecarConfig())
    sidecar.write_verdict(photo, result("reject", ("overexposed",)), SidecarConfig())
    assert properties(path)["Xmp.lr.hierarchicalSubject"] == ["blurwatch|overexposed"]
    assert properties(path)["Xmp.blurwatch.Reasons"] == ["overexposed"]


# --- atomic writes -----------------------------------------------------------------------


def test_a_merge_that_fails_its_check_leaves_the_old_sidecar_and_no_temporary_file(photo: Path, monkeypatch) -> None:
    path = existing_sidecar(photo)

    def fail(path, before, changes, after):
        raise FileError(path, "merging would alter Xmp.darktable.history as exiv2 reads it; left as it is")

    monkeypatch.setattr(xmp, "_verify", fail)
    with pytest.raises(SidecarError) as caught:
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert caught.value.path == path and "Xmp.darktable.history" in str(caught.value)
    assert path.read_bytes() == DARKTABLE_FIXTURE.read_bytes()
    assert leftovers(photo.parent) == []


def test_a_failed_rename_leaves_the_old_sidecar_and_no_temporary_file(photo: Path, monkeypatch) -> None:
    path = existing_sidecar(photo)

    def fail(source, target, flags):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "_rename2", fail)
    with pytest.raises(SidecarError, match="No space left"):
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert path.read_bytes() == DARKTABLE_FIXTURE.read_bytes()
    assert leftovers(photo.parent) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_a_read_only_folder_is_reported(photo: Path) -> None:
    path = existing_sidecar(photo)
    photo.parent.chmod(0o555)
    try:
        with pytest.raises(SidecarError, match="cannot write"):
            sidecar.write_verdict(photo, result(), SidecarConfig())
    finally:
        photo.parent.chmod(0o755)
    assert path.read_bytes() == DARKTABLE_FIXTURE.read_bytes()


@pytest.fixture
def no_pauses(monkeypatch) -> None:
    """Merge and read again at once, instead of after a moment."""
    monkeypatch.setattr(sidecar, "MERGE_PAUSES", (0.0,) * len(sidecar.MERGE_PAUSES))
    monkeypatch.setattr(sidecar, "READ_PAUSES", (0.0,) * len(sidecar.READ_PAUSES))


def saving_while_merging(monkeypatch, path: Path, times: int) -> list[str]:
    """darktable saves the sidecar (a new rating each time) while the next ``times`` merges are made."""
    merge = xmp.merge
    saved: list[str] = []

    def merge_while_darktable_saves(*args):
        merged = merge(*args)
        if len(saved) < times:
            saved.append(str(len(saved) + 2))
            set_property(path, "Xmp.xmp.Rating", saved[-1])
        return merged

    monkeypatch.setattr(xmp, "merge", merge_while_darktable_saves)
    return saved


@pytest.mark.usefixtures("no_pauses")
def test_a_sidecar_saved_meanwhile_is_merged_into_again(photo: Path, monkeypatch) -> None:
    path = existing_sidecar(photo)
    saved = saving_while_merging(monkeypatch, path, times=2)
    sidecar.write_verdict(photo, result(), SidecarConfig())
    fields = properties(path)
    assert saved == ["2", "3"] and fields["Xmp.xmp.Rating"] == "3"  # darktable's last save, kept as a manual rating
    assert fields["Xmp.blurwatch.Verdict"] == "reject" and "Xmp.darktable.history[1]/darktable:operation" in fields
    assert leftovers(photo.parent) == []


@pytest.mark.usefixtures("no_pauses")
def test_a_sidecar_saved_during_every_merge_is_left_with_the_last_save_and_reported_busy(photo: Path,
                                                                                        monkeypatch) -> None:
    path = existing_sidecar(photo)
    saved = saving_while_merging(monkeypatch, path, times=99)
    with pytest.raises(Busy, match="was saved, or open for writing, by another program each of the 4 times blurwatch "
                                   "merged its verdict into it; left with that program's version, without a verdict"
                       ) as caught:
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert caught.value.path == path and len(saved) == 4
    assert properties(path)["Xmp.xmp.Rating"] == saved[-1] and "Xmp.blurwatch.Verdict" not in properties(path)
    assert leftovers(photo.parent) == []


def test_a_save_caught_half_written_is_read_again_after_a_moment(photo: Path, monkeypatch) -> None:
    path = photo.with_name(photo.name + ".xmp")
    whole = DARKTABLE_FIXTURE.read_bytes()
    path.write_bytes(whole[:1200])  # darktable truncated the file and has written the first part
    pauses: list[float] = []
    sleep = time.sleep

    def darktable_finishes(seconds: float) -> None:
        if seconds not in sidecar.READ_PAUSES:  # the file layer's own short waits
            return sleep(seconds)
        pauses.append(seconds)
        path.write_bytes(whole)

    monkeypatch.setattr(time, "sleep", darktable_finishes)
    sidecar.write_verdict(photo, result(), SidecarConfig())
    assert pauses == [sidecar.READ_PAUSES[0]]
    assert properties(path)["Xmp.darktable.history_end"] == "4" and properties(path)["Xmp.blurwatch.Verdict"]


@pytest.mark.usefixtures("no_pauses")
def test_a_broken_sidecar_that_stays_broken_is_reported_once_looked_at_twice(photo: Path) -> None:
    path = photo.with_name(photo.name + ".xmp")
    path.write_bytes(DARKTABLE_FIXTURE.read_bytes()[:1200])
    with pytest.raises(SidecarError, match=r"is not valid XML: .* at line \d+ \(the same a moment later, so no save "
                                           r"in progress\); left as it is"):
        sidecar.write_verdict(photo, result(), SidecarConfig())


def test_permission_bits_are_kept(photo: Path) -> None:
    path = existing_sidecar(photo)
    path.chmod(0o640)
    sidecar.write_verdict(photo, result(), SidecarConfig())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_new_sidecar_gets_the_usual_permissions(photo: Path) -> None:
    umask = os.umask(0o022)
    try:
        [path] = sidecar.write_verdict(photo, result(), SidecarConfig())
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_read_only_sidecar_is_left_alone_and_reported_even_for_root(photo: Path) -> None:
    path = existing_sidecar(photo)
    path.chmod(0o444)
    with pytest.raises(SidecarError, match=r"is read-only \(mode 0444\); left as it is") as caught:
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert caught.value.path == path and path.read_bytes() == DARKTABLE_FIXTURE.read_bytes()


def test_a_read_only_sidecar_already_holding_the_verdict_is_no_failure(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result(), SidecarConfig())
    path.chmod(0o444)
    assert sidecar.write_verdict(photo, result(), SidecarConfig()) == [path]


def test_a_hard_linked_sidecar_is_left_alone_and_reported(photo: Path) -> None:
    path = existing_sidecar(photo)
    os.link(path, photo.parent / "backup.xmp")
    with pytest.raises(SidecarError, match="has 2 hard links, which replacing it would split; left as it is"):
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert path.read_bytes() == DARKTABLE_FIXTURE.read_bytes() and path.stat().st_nlink == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a sidecar to another user")
@requires_program("setfacl")
def test_another_users_sidecar_keeps_its_owner_mode_and_acl(photo: Path) -> None:
    """The system unit (root) merging into a photographer's sidecar: it stays theirs, ACL and all."""
    path = existing_sidecar(photo)
    os.chown(path, 65534, 65534)
    path.chmod(0o640)
    subprocess.run(["setfacl", "-m", "u:1234:rw", str(path)], check=True)
    acl = os.getxattr(path, "system.posix_acl_access")
    sidecar.write_verdict(photo, result(), SidecarConfig())
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o660)
    assert os.getxattr(path, "system.posix_acl_access") == acl
    assert properties(path)["Xmp.blurwatch.Verdict"] == "reject"


def test_a_photo_whose_name_is_not_utf8_gets_its_sidecar(photo: Path) -> None:
    """Old cards and Samba shares: a Latin-1 byte in the name; the sidecar names it escaped."""
    odd = photo.with_name(os.fsdecode(b"caf\xe9.jpg"))
    photo.rename(odd)
    [path] = sidecar.write_verdict(odd, result(), SidecarConfig())
    assert os.fsencode(path.name) == b"caf\xe9.jpg.xmp"
    assert properties(path)["Xmp.blurwatch.Photo"] == "caf\\xe9.jpg"
    before = path.read_bytes()
    sidecar.write_verdict(odd, result(), SidecarConfig())
    assert path.read_bytes() == before


def test_a_pair_whose_names_are_not_utf8_shares_an_adobe_sidecar(photo: Path) -> None:
    jpeg = photo.rename(photo.with_name(os.fsdecode(b"caf\xe9.jpg")))
    raw = jpeg.with_name(os.fsdecode(b"caf\xe9.CR2"))
    raw.write_bytes(b"a raw file")
    config = SidecarConfig(naming="adobe")
    [path] = sidecar.write_verdict(raw, result("reject"), config)
    assert sidecar.write_verdict(jpeg, result("reject"), config) == [path]
    with pytest.raises(SidecarError, match=r"holds another verdict, for caf\\xe9\.CR2"):
        sidecar.write_verdict(jpeg, result("keep"), config)


def test_a_photo_name_at_the_limit_gets_its_sidecar(photo: Path) -> None:
    """A 251-byte name makes a 255-byte sidecar name, the most a filesystem allows."""
    long = photo.rename(photo.with_name("x" * 247 + ".jpg"))
    [path] = sidecar.write_verdict(long, result(), SidecarConfig())
    assert len(path.name) == 255 and properties(path)["Xmp.blurwatch.Verdict"] == "reject"


def test_a_photo_name_too_long_for_a_sidecar_says_so(photo: Path) -> None:
    long = photo.rename(photo.with_name("x" * 248 + ".jpg"))
    with pytest.raises(SidecarError, match="its name is 256 bytes, longer than its filesystem allows"):
        sidecar.write_verdict(long, result(), SidecarConfig())


@pytest.mark.parametrize("kind", ["utf-16", "comment first", "latin-1"])
def test_sidecars_exiv2_alone_cannot_read_are_merged(photo: Path, kind: str) -> None:
    """Each was refused as "data of an unknown image type", or double-encoded ("CafÃ©")."""
    path = photo.with_name(photo.name + ".xmp")
    text = DARKTABLE_FIXTURE.read_text(encoding="utf-8").replace("Harbour at dusk", "Café at dusk")
    body = text.split("\n", 1)[1]  # without the UTF-8 declaration
    if kind == "utf-16":
        path.write_bytes(body.encode("utf-16"))
    elif kind == "comment first":
        path.write_bytes(("<!-- written by a script -->\n" + body).encode())
    else:
        path.write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + body).encode("latin-1"))
    sidecar.write_verdict(photo, result(), SidecarConfig())
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.verdict == "reject"
    fields = xmp.read(path).fields
    assert fields["Xmp.dc.title"] == {'lang="x-default"': "Café at dusk"} and fields["Xmp.xmp.Rating"] == "3"


# --- hostile and broken sidecars ------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="&lol9;"/>
</rdf:RDF></x:xmpmeta>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="&secret;"/>
</rdf:RDF></x:xmpmeta>"""

HOSTILE = {
    "not-xml": b"\x00\x01 this is not XML \xff\xfe",
    "empty": b"",
    "html": b'<?xml version="1.0"?>\n<html><body>not XMP</body></html>\n' + b" " * 80,
    "truncated": DARKTABLE_FIXTURE.read_bytes()[:1500],
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
}


def write_huge_packet(path: Path, size: int = 100 * 1024 * 1024) -> None:
    """A 100 MB XMP packet (padding), written in chunks."""
    head = DARKTABLE_FIXTURE.read_bytes()
    with path.open("wb") as file:
        file.write(head)
        chunk = b" " * (1024 * 1024)
        for _ in range(size // len(chunk)):
            file.write(chunk)


def write_many_keywords(path: Path, size: int = 15 * 1024 * 1024) -> None:
    """Under the size limit, but some 900,000 keywords: exiv2 would need gigabytes' worth of nodes."""
    head = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>')
    tail = b"</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    item = b"<rdf:li>a</rdf:li>"
    path.write_bytes(head + item * (size // len(item)) + tail)


@pytest.mark.parametrize("kind", [*HOSTILE, "100MB", "900k-nodes"])
def test_a_hostile_or_broken_sidecar_is_left_untouched_and_reported(photo: Path, kind: str) -> None:
    path = photo.with_name(photo.name + ".xmp")
    if kind == "100MB":
        write_huge_packet(path)
    elif kind == "900k-nodes":
        write_many_keywords(path)
    else:
        path.write_bytes(HOSTILE[kind])
    before = (path.stat().st_size, path.stat().st_mtime_ns, sha256(path))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SidecarError) as caught:
            sidecar.write_verdict(photo, result(), SidecarConfig())
        with pytest.raises(SidecarError):
            sidecar.read_verdict(photo)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < HANG_GUARD_SECONDS
    assert peak < 40 * 1024 * 1024  # at most the file's bytes and a little more
    assert caught.value.path == path and str(caught.value).startswith(str(path))
    assert (path.stat().st_size, path.stat().st_mtime_ns, sha256(path)) == before
    assert leftovers(photo.parent) == []


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_a_sidecar_that_is_not_a_regular_file_is_refused(photo: Path, kind: str) -> None:
    path = photo.with_name(photo.name + ".xmp")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        target = photo.parent / "elsewhere.xmp"
        shutil.copyfile(DARKTABLE_FIXTURE, target)
        path.symlink_to(target)
    else:
        path.mkdir()
    with pytest.raises(SidecarError, match="not a regular file"):
        sidecar.write_verdict(photo, result(), SidecarConfig())
    assert path.is_symlink() == (kind == "symlink")


def test_raw_and_jpeg_sharing_an_adobe_sidecar_hold_one_verdict(photo: Path) -> None:
    raw = photo.with_name("IMG_0001.CR2")
    raw.write_bytes(b"a raw file")
    config = SidecarConfig(naming="adobe")
    [path] = sidecar.write_verdict(raw, result("reject"), config)
    before = path.read_bytes()
    assert sidecar.write_verdict(photo, result("reject"), config) == [path]  # the pair's verdict, beside each
    assert path.read_bytes() == before
    with pytest.raises(SidecarError, match="IMG_0001.CR2"):
        sidecar.write_verdict(photo, result("keep"), config)  # would flip-flop with the raw's on every run
    assert path.read_bytes() == before
    assert sidecar.read_verdict(photo, "adobe").verdict == "reject"


def test_sidecars_already_done_for_a_pair_are_not_read_again(photo: Path, monkeypatch) -> None:
    raw = photo.with_name("IMG_0001.CR2")
    raw.write_bytes(b"a raw file")
    config = SidecarConfig(naming="both")
    done = sidecar.write_verdict(raw, result("reject"), config)
    loaded = []
    monkeypatch.setattr(xmp, "read", lambda path, read=xmp.read: loaded.append(path.name) or read(path))
    written = sidecar.write_verdict(photo, result("reject"), config, done=done)
    assert written == sidecar.sidecar_paths(photo, "both")
    assert loaded == ["IMG_0001.jpg.xmp"]


def test_a_darktable_sidecar_copied_or_renamed_with_its_photo_is_taken_over(photo: Path) -> None:
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    copy = photo.with_name("IMG_0002.jpg")
    shutil.copyfile(photo, copy)
    shutil.copyfile(photo.with_name("IMG_0001.jpg.xmp"), copy.with_name("IMG_0002.jpg.xmp"))
    assert sidecar.read_verdict(copy).verdict == "reject"
    sidecar.write_verdict(copy, result("keep"), SidecarConfig())
    assert sidecar.read_verdict(copy).verdict == "keep"
    assert sidecar.read_verdict(photo).verdict == "reject"


# --- reading back ----------------------------------------------------------------------------


def test_read_verdict_without_a_sidecar_or_without_blurwatch_fields_is_none(photo: Path) -> None:
    assert sidecar.read_verdict(photo) is None
    existing_sidecar(photo)
    assert sidecar.read_verdict(photo) is None


def test_read_verdict_returns_what_was_written(photo: Path) -> None:
    [path] = sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    stored = sidecar.read_verdict(photo)
    expected = result("reject").to_json()
    assert stored is not None
    assert dataclasses.replace(stored, scored="") == sidecar.StoredVerdict(
        sidecar=path, verdict="reject", reasons=("blurry", "dark"), sharpness=0.1234, exposure_ev=-2.75,
        clipped=0.0123, crushed=0.2468, sharpness_map=expected["sharpness_map"], model_version="test-model-1",
        decoded_from="jpeg", rating=-1, rating_is_manual=False)
    assert stored.scored == properties(path)["Xmp.blurwatch.Scored"]


def test_read_verdict_prefers_the_darktable_sidecar_then_the_adobe_one(photo: Path) -> None:
    sidecar.write_verdict(photo, result("reject"), SidecarConfig(naming="adobe"))
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.verdict == "reject" and stored.sidecar.name == "IMG_0001.xmp"
    sidecar.write_verdict(photo, result("keep"), SidecarConfig(naming="darktable"))
    assert sidecar.read_verdict(photo).verdict == "keep"
    assert sidecar.read_verdict(photo, "adobe").verdict == "reject"


def test_read_hand_rating_is_a_persons_rating_only(photo: Path) -> None:
    assert sidecar.read_hand_rating(photo) is None
    path = existing_sidecar(photo)
    assert sidecar.read_hand_rating(photo) == 3
    set_property(path, "Xmp.xmp.Rating", "1")  # darktable's import default
    assert sidecar.read_hand_rating(photo) is None
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    assert sidecar.read_hand_rating(photo) is None  # blurwatch's own -1
    set_property(path, "Xmp.xmp.Rating", "-1")
    set_property(path, "Xmp.blurwatch.WroteRating", "2")
    assert sidecar.read_hand_rating(photo) == -1


# --- darktable itself -----------------------------------------------------------------------

DARKTABLE_CHECK = """
local dt = require "darktable"
dt.control.dispatch(function()
  -- darktable 4.2 can deadlock when Lua imports before its main loop runs: let start-up finish
  dt.control.sleep(3000)
  local image = dt.database.import({photo})
  local out = io.open({part}, "w")
  out:write("rating=", tostring(image.rating), "\\n")
  for _, tag in ipairs(dt.tags.get_tags(image)) do out:write("tag=", tag.name, "\\n") end
  out:close()
  os.rename({part}, {report})
end)
"""


@pytest.mark.integration
@pytest.mark.slow
@requires_program("darktable")
@requires_program("xvfb-run")
def test_darktable_imports_the_verdict_and_keeps_it_when_it_rewrites_the_sidecar(photo: Path, tmp_path: Path) -> None:
    sidecar.write_verdict(photo, result("reject"), SidecarConfig())
    report = tmp_path / "report.txt"
    config_dir = tmp_path / "darktable-config"
    (config_dir / "lua").mkdir(parents=True)
    lua = DARKTABLE_CHECK.format(photo=json.dumps(str(photo)), part=json.dumps(f"{report}.part"),
                                 report=json.dumps(str(report)))
    (config_dir / "lua" / "blurwatch_check.lua").write_text(lua, encoding="utf-8")
    (config_dir / "luarc").write_text('require "blurwatch_check"\n', encoding="utf-8")
    log = tmp_path / "darktable.log"
    display = str(random.randint(1000, 30000))  # plain -a races with other xvfb-runs starting at once
    darktable = subprocess.Popen(["xvfb-run", "-a", "-n", display, "darktable", "--configdir", str(config_dir),
                                  "--cachedir", str(tmp_path / "darktable-cache"), "--library", ":memory:"],
                                 stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not report.exists() and darktable.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(darktable.pid, signal.SIGKILL)  # xvfb-run, Xvfb, darktable: this run's group only
        darktable.wait()
    assert report.exists(), log.read_text(errors="replace")
    lines = report.read_text(encoding="utf-8").splitlines()
    assert "rating=-1" in lines  # darktable shows it rejected
    assert {"tag=blurwatch|blurry", "tag=blurwatch|dark"} <= set(lines)
    # darktable rewrote the sidecar on import
    assert "Xmp.darktable.xmp_version" in properties(photo.with_name(photo.name + ".xmp"))
    stored = sidecar.read_verdict(photo)
    assert stored is not None and stored.verdict == "reject" and stored.rating == -1 and not stored.rating_is_manual


# ---------------------------------------------------------------- bursts and brackets

OTHER_FRAME = Membership("burst", "IMG_0001-1a2b3c4d", 5, best=False)


def _fields(path: Path) -> dict:
    return xmp.read(path).fields


def test_a_burst_frame_records_its_group_and_the_verdict_after_the_group_rule(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0002.jpg"
    [path] = sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig(), group=OTHER_FRAME)

    fields = _fields(path)
    assert (fields["Xmp.blurwatch.Burst"], fields["Xmp.blurwatch.BurstSize"]) == ("IMG_0001-1a2b3c4d", "5")
    assert "Xmp.blurwatch.BurstBest" not in fields
    assert (fields["Xmp.blurwatch.Verdict"], fields["Xmp.blurwatch.Reasons"]) == ("review", ["burst"])
    assert sorted(fields["Xmp.lr.hierarchicalSubject"]) == ["blurwatch|burst", "blurwatch|review"]
    assert sidecar.read_verdict(photo).group == OTHER_FRAME

    best = dataclasses.replace(OTHER_FRAME, best=True)
    sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig(), group=best)
    fields = _fields(path)
    assert (fields["Xmp.blurwatch.BurstBest"], fields["Xmp.blurwatch.Verdict"]) == ("True", "keep")
    assert fields["Xmp.lr.hierarchicalSubject"] == ["blurwatch|burst"]


def test_scoring_again_keeps_the_recorded_group_and_changes_no_byte(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0002.jpg"
    [path] = sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig(), group=OTHER_FRAME)
    before = path.read_bytes()

    [merged] = sidecar.merge_verdict(photo, result("keep", rating=None), SidecarConfig())  # the per-photo job's write

    assert path.read_bytes() == before
    assert (merged.changed, merged.group) == (False, OTHER_FRAME)


def test_a_frame_that_left_its_group_gets_its_own_verdict_back(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0002.jpg"
    [path] = sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig(), group=OTHER_FRAME)

    sidecar.write_verdict(photo, result("keep", rating=None), SidecarConfig(), group=None)

    fields = _fields(path)
    assert not [key for key in fields if key.startswith(("Xmp.blurwatch.Burst", "Xmp.blurwatch.Bracket"))]
    assert fields["Xmp.blurwatch.Verdict"] == "keep" and "Xmp.lr.hierarchicalSubject" not in fields
    assert "burst" not in fields.get("Xmp.dc.subject", [])


def test_a_dark_bracket_frame_is_written_as_kept(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0003.jpg"
    dark = result("reject", ("dark",), score=0.95)
    [path] = sidecar.write_verdict(photo, dark, SidecarConfig(), group=Membership("bracket", "IMG_0003-ff", 3, False))

    fields = _fields(path)
    assert (fields["Xmp.blurwatch.Bracket"], fields["Xmp.blurwatch.Verdict"]) == ("IMG_0003-ff", "keep")
    assert "Xmp.xmp.Rating" not in fields and fields["Xmp.lr.hierarchicalSubject"] == ["blurwatch|bracket"]
