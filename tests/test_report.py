"""The contact-sheet report: built from real sidecars, checked in a real headless chromium."""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurwatch import discovery, report, sidecar
from blurwatch.bursts import Membership
from blurwatch.config import Config, SidecarConfig
from blurwatch.errors import UsageError
from blurwatch.exposure import Exposure, figures, histogram
from blurwatch.pipeline import PhotoResult
from blurwatch.sharpness import decode_map, encode_map
from blurwatch.state import Stamp, StateDB
from blurwatch.verdict import Limits, Thresholds
from conftest import requires_program
from helpers.dng import write_dng
from helpers.photos import make_photo, warm_cool
from helpers.results import limits_models, photo_result

LIMITS = Thresholds(reject_below=0.3, keep_from=0.5, dark=Limits(0.9, 0.6), overexposed=Limits(0.9, 0.6))

GREY_EXPOSURE = Exposure(**figures(histogram(np.arange(256, dtype=np.uint8).reshape(16, 16))), dark=0.01,
                         overexposed=0.01)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1400,1000",
    # Belt and braces: even if the page asked for a host, nothing would resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


# ---------------------------------------------------------------- helpers


def result(photo: Path, decision: str, reasons: tuple[str, ...], score: float, ev: float = 0.0) -> PhotoResult:
    """A judging result as the job would hand it to the sidecar writer."""
    grid = np.full((4, 6), np.nan, np.float32)
    grid[1:3, 1:5] = score
    grid[0, 0] = 1.0
    return photo_result(photo, decision, reasons, score=score, exposure=dataclasses.replace(GREY_EXPOSURE, mean_ev=ev),
                        grid=grid, model_version="test-model", thresholds=LIMITS)


def stored(verdict: str = "keep", reasons: tuple[str, ...] = (), score: float = 0.8,
           **changes) -> sidecar.StoredVerdict:
    fields = dict(sidecar=Path("x.xmp"), verdict=verdict, reasons=reasons, sharpness=score, exposure_ev=-0.4,
                  clipped=0.01, crushed=0.02, sharpness_map="12-9/3456", model_version="test-model",
                  decoded_from="jpeg", rating=None, rating_is_manual=False)
    fields.update(changes)
    return sidecar.StoredVerdict(**fields)






# The culled folder every browser test looks at: 3 rejects, 2 reviews, 4 keeps, 1 unscored.
CULL = (
    ("blur1.jpg", "reject", ("blurry",), 0.05, 0.0),
    ("blur2.jpg", "reject", ("blurry", "dark"), 0.12, -3.1),
    ("dark.jpg", "reject", ("dark",), 0.70, -3.4),
    ("soft1.jpg", "review", ("blurry",), 0.40, 0.0),
    ("soft2.jpg", "review", ("blurry",), 0.45, 0.2),
    ("keep1.jpg", "keep", (), 0.92, 0.1),
    ("keep2.jpg", "keep", (), 0.61, -0.5),
    ("keep3.jpg", "keep", (), 0.77, 0.3),
    ("keep4.jpg", "keep", (), 0.85, -1.0),
)


@pytest.fixture(scope="module")
def culled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of photos with real sidecars written by blurwatch.sidecar, and one never culled."""
    folder = tmp_path_factory.mktemp("culled") / "shoot"
    for i, (name, decision, reasons, score, ev) in enumerate(CULL):
        photo = make_photo(folder / name, seed=i)
        sidecar.write_verdict(photo, result(photo, decision, reasons, score, ev), SidecarConfig())
    make_photo(folder / "new.jpg", seed=99)
    return folder


@pytest.fixture(scope="module")
def page(culled: Path) -> Path:
    return report.write_report([culled], culled.parent / "cull.html", Config(), models=limits_models())


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless chromium with a fresh profile; returns its stdout."""
    profile = tmp_path / f"chromium-profile-{time.monotonic_ns()}"
    done = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args, url],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def selftest(tmp_path: Path, page: Path) -> dict:
    """Open ``page#selftest`` and read the results its script wrote into the DOM."""
    dom = chromium(tmp_path, page.as_uri() + "#selftest", "--dump-dom")
    match = re.search(r'<pre id="selftest"[^>]*data-done="yes"[^>]*>(.*?)</pre>', dom, re.S)
    assert match, "the page's self-test did not finish"
    return json.loads(html.unescape(match.group(1)))


def screenshot(tmp_path: Path, page: Path, fragment: str = "") -> np.ndarray:
    shot = tmp_path / f"shot{fragment.replace('#', '-')}.png"
    chromium(tmp_path, page.as_uri() + fragment, f"--screenshot={shot}")
    image = cv2.imread(str(shot))
    assert image is not None, f"chromium wrote no screenshot at {shot}"
    return image


# ---------------------------------------------------------------- reading the sidecars


def test_the_report_lists_every_shot_in_the_section_its_sidecar_names(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for sid, count in (("reject", 3), ("review", 2), ("keep", 4), ("none", 1)):
        section = re.search(rf'<details class="section s-{sid}".*?</details>', text, re.S)
        assert section, sid
        assert section.group(0).count('<article class="card"') == count, sid
    assert "not culled yet" in text
    assert 'data-reasons="blurry dark"' in text
    assert "\u2715 rejected" in text  # the -1 rating blurwatch wrote for rejects


def test_the_map_in_the_page_is_the_sidecars_map(page: Path) -> None:
    maps = re.findall(r'data-map="([^"]*)"', page.read_text(encoding="utf-8"))
    written = encode_map(result(Path("x"), "keep", (), 0.4).sharpness.map)
    assert written in maps
    assert decode_map(written).shape == (4, 6)


def test_a_raw_jpeg_pair_is_one_shot(tmp_path: Path) -> None:
    entry = report.read_entry((tmp_path / "IMG_1.JPG", tmp_path / "IMG_1.CR2"), "darktable")
    assert entry.stored is None and entry.partners == (tmp_path / "IMG_1.CR2",)
    assert "+CR2" in report._card(entry, None, "cull.html.d", tmp_path)


def test_an_unreadable_sidecar_lists_the_shot_without_a_verdict(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    (tmp_path / "a.jpg.xmp").write_text("<x:xmpmeta><unclosed>", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="blurwatch.report"):
        entry = report.read_entry((photo,), "darktable")
    assert entry.section == "none" and entry.problem.startswith("sidecar not readable: is not valid XML")
    assert f"{photo}: sidecar not readable" in caplog.text


def culled_photo(path: Path, decision: str = "keep", score: float = 0.9) -> Path:
    photo = make_photo(path)
    sidecar.write_verdict(photo, result(photo, decision, ("blurry",) if decision != "keep" else (), score),
                          SidecarConfig())
    return photo


def test_missing_paths_are_logged_and_the_rest_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    culled_photo(tmp_path / "a.jpg")
    with caplog.at_level(logging.WARNING, logger="blurwatch.report"):
        out = report.write_report([tmp_path, tmp_path / "gone"], tmp_path / "r.html", Config(),
                                  models=limits_models())
    assert "gone: no such file or folder" in caplog.text
    assert out.read_text(encoding="utf-8").count('<article class="card"') == 1


def test_a_report_inside_the_photo_folder_does_not_list_its_own_thumbnails(tmp_path: Path) -> None:
    culled_photo(tmp_path / "a.jpg")
    for _ in range(2):
        out = report.write_report([tmp_path], tmp_path, Config(), models=limits_models())
    assert out == tmp_path / "cull.html"  # a folder gets a cull.html
    assert out.read_text(encoding="utf-8").count('<article class="card"') == 1
    # Nor does --once or the daemon take them for photos.
    thumb = next((tmp_path / "cull.html.d").iterdir())
    assert discovery.find_jobs([tmp_path])[0] == [(tmp_path / "a.jpg",)]
    assert not discovery.is_candidate(thumb, root=tmp_path)


def test_nothing_culled_writes_no_page(tmp_path: Path) -> None:
    make_photo(tmp_path / "a.jpg")
    with pytest.raises(UsageError, match="has a blurwatch verdict yet .* no report written"):
        report.write_report([tmp_path], tmp_path, Config(), models=limits_models())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_photos_that_failed_show_as_failed_with_the_reason(tmp_path: Path) -> None:
    culled_photo(tmp_path / "a.jpg")
    broken = tmp_path / "b.nef"
    broken.write_bytes(b"a metadata-only stub")
    failures = {broken: f"{broken}: RAW image data missing"}
    text = report.write_report([tmp_path], tmp_path / "r.html", Config(), models=limits_models(),
                               failures=failures).read_text(encoding="utf-8")
    section = re.search(r'<details class="section s-failed".*?</details>', text, re.S)
    assert section and "failed: RAW image data missing" in section.group(0) and "b.nef" in section.group(0)
    assert '<a class="stat s-failed" href="#failed"><b>1</b> failed</a>' in text and "not culled yet" not in text


def test_photos_the_daemon_found_broken_show_as_failed(tmp_path: Path) -> None:
    culled_photo(tmp_path / "photos" / "a.jpg")
    broken = make_photo(tmp_path / "photos" / "b.jpg")
    config = Config().replace(watch=dataclasses.replace(Config().watch, state_dir=str(tmp_path / "state")))
    with StateDB.in_dir(tmp_path / "state") as db:
        db.record(broken, Stamp(1, 1), "m1", error=f"{broken}: truncated JPEG")
    text = report.write_report([tmp_path / "photos"], tmp_path / "r.html", config,
                               models=limits_models()).read_text(encoding="utf-8")
    assert "failed: truncated JPEG" in text


def test_scores_show_the_digits_that_agree_with_their_section(tmp_path: Path) -> None:
    limits = dataclasses.replace(LIMITS, reject_below=0.3, keep_from=0.95)
    assert report.score_digits([0.9, 0.2], limits) == 2
    assert report.score_digits([0.947, 0.2], limits) == 3  # "0.95" would sit under "keep from 0.95"
    assert report.score_digits([0.9499], limits) == 4
    entry = report.Entry(make_photo(tmp_path / "a.jpg"), stored("review", ("blurry",), score=0.947))
    text = report.render([entry], tmp_path / "r.html", limits, Config()).read_text(encoding="utf-8")
    assert "<b>sharp</b> 0.947" in text and "keep from 0.950" in text and "keep 0.950</text>" in text


def test_the_title_names_what_was_asked_for_and_pairs_are_counted(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    for day in ("day1", "day2"):
        culled_photo(shoot / day / "a.jpg")
    jpeg = culled_photo(shoot / "raw" / "IMG_1.JPG")
    shutil.copyfile(jpeg.with_name("IMG_1.JPG.xmp"), shoot / "raw" / "IMG_1.CR2.xmp")
    (shoot / "raw" / "IMG_1.CR2").write_bytes(b"")
    text = report.write_report([shoot], tmp_path / "r.html", Config(), models=limits_models()).read_text()
    assert "<title>Cull report: shoot</title>" in text
    assert "4 files on 3 cards: a RAW+JPEG pair is one card (1 here)" in text


# ---------------------------------------------------------------- the page itself


def test_the_page_is_offline_by_construction(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I) is None
    assert "@import" not in text and "url(" not in text
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)
    assert csp and csp.group(1) == (
        "default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    )
    thumbs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(thumbs) == 10 and all(src.startswith("cull.html.d/") for src in thumbs)
    assert all((page.parent / src).is_file() for src in thumbs)
    assert 'loading="lazy"' in text


def test_names_are_escaped_and_links_relative(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photos" / 'a <b>&"x\'#1.jpg')
    entry = report.Entry(photo, stored(reasons=("<script>",)))
    out = report.render([entry], tmp_path / "out" / "my report.html", LIMITS, Config())
    text = out.read_text(encoding="utf-8")
    assert "<b>&" not in text and text.count("<script>") == 2  # the page's own two scripts
    assert "a &lt;b&gt;&amp;&quot;x&#x27;#1.jpg" in text
    assert 'href="../photos/a%20%3Cb%3E%26%22x%27%231.jpg"' in text
    assert 'src="my%20report.html.d/' in text


def test_the_histogram_draws_the_thresholds_and_stacks_verdicts() -> None:
    svg = report.histogram_svg([0.05, 0.1, 0.41, 0.9, 0.91], ["reject", "reject", "review", "keep", "keep"], LIMITS)
    assert 'class="t-reject" x1="180.0"' in svg and 'class="t-keep" x1="300.0"' in svg
    assert "reject 0.30" in svg and "keep 0.50" in svg
    assert len(re.findall(r'<rect class="h-keep"', svg)) == 1  # 0.90 and 0.91 share a bin
    assert "<title>2 keep" in svg


def test_write_report_draws_the_thresholds_config_and_model_give(tmp_path: Path) -> None:
    culled_photo(tmp_path / "a.jpg")
    strict = Config().replace(sensitivity=1.0)
    text = report.write_report([tmp_path], tmp_path / "r.html", strict, models=limits_models()).read_text()
    assert "reject below 0.54 · keep from 0.73" in text  # 0.3 and 0.5 moved 1 in logit space


def test_a_raw_jpeg_pair_shows_once_with_the_jpeg(tmp_path: Path) -> None:
    jpeg = make_photo(tmp_path / "IMG_1.JPG")
    dng = write_dng(tmp_path / "IMG_1.DNG", warm_cool(), preview_long_side=600)
    for photo in (jpeg, dng):
        sidecar.write_verdict(photo, result(photo, "keep", (), 0.9), SidecarConfig())
    text = report.write_report([tmp_path], tmp_path / "r.html", Config(), models=limits_models()).read_text()
    assert text.count('<article class="card"') == 1 and "IMG_1.JPG" in text and "+DNG" in text


def test_a_shot_without_a_thumbnail_shows_a_placeholder(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    text = report.render([report.Entry(broken, None, "not culled yet")], tmp_path / "r.html", LIMITS,
                         Config()).read_text()
    assert text.count("no preview") == 1 and "not culled yet" in text


# ---------------------------------------------------------------- in a real browser


@pytest.mark.integration
@requires_program("chromium")
def test_in_chromium_counts_overlay_filter_and_sort_work(tmp_path: Path, culled: Path, page: Path) -> None:
    got = selftest(tmp_path, page)
    verdicts = [sidecar.read_verdict(photo) for photo in sorted(culled.glob("*.jpg"))]
    expected = Counter(v.verdict if v else "none" for v in verdicts)
    assert got["sections"] == dict(expected) == {"reject": 3, "review": 2, "keep": 4, "none": 1}
    assert got["withMap"] == 9
    assert (got["mapsShownBefore"], got["mapsShownOn"], got["mapsPainted"], got["mapsShownOff"]) == (0, 9, 9, 0)
    assert got["filter"] == {"all": 10, "blurry": 4, "dark": 2}
    assert got["sortedAsc"] and got["sortedDesc"] and got["sortedName"]
    assert got["firstImageWidths"] and all(w == 360 for w in got["firstImageWidths"])
    assert got["violations"] == [] and got["foreignResources"] == []


@pytest.mark.integration
@requires_program("chromium")
def test_in_chromium_the_sheet_renders_and_the_map_shows(tmp_path: Path, page: Path) -> None:
    plain = screenshot(tmp_path, page)
    mapped = screenshot(tmp_path, page, "#map")
    assert plain.shape == (1000, 1400, 3)
    assert cv2.cvtColor(plain, cv2.COLOR_BGR2GRAY).std() > 20  # not a blank page
    # Thumbnails are drawn: the photos' warm orange is on screen.
    warm = (plain[..., 2] > 170) & (plain[..., 1] > 70) & (plain[..., 1] < 140) & (plain[..., 0] < 90)
    assert warm.sum() > 5000
    changed = np.abs(plain.astype(int) - mapped.astype(int)).max(axis=2) > 30
    assert changed.sum() > 20000  # the overlay covers the thumbnails


@pytest.mark.integration
@requires_program("chromium")
def test_in_chromium_the_policy_blocks_anything_from_outside(tmp_path: Path, page: Path) -> None:
    leaky = page.with_name("leaky.html")
    text = page.read_text(encoding="utf-8").replace(
        "<main>",
        '<main><img src="https://example.com/pixel.png"><link rel="stylesheet" href="http://example.com/x.css">'
    )
    leaky.write_text(text, encoding="utf-8")
    got = selftest(tmp_path, leaky)
    assert any("example.com/pixel.png" in v for v in got["violations"])
    assert any("example.com/x.css" in v for v in got["violations"])  # blocked before any request


# ---------------------------------------------------------------- scale


@pytest.mark.slow
def test_two_thousand_photos(tmp_path: Path, record_property) -> None:
    folder = tmp_path / "big"
    rng = np.random.default_rng(3)
    decisions = ("reject", "review", "keep")
    expected = dict.fromkeys(decisions, 0)
    for i in range(2000):
        photo = folder / f"IMG_{i:04d}.jpg"
        photo.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(photo), np.full((48, 64, 3), rng.integers(0, 255, 3), np.uint8))
        decision = decisions[i % 3]
        expected[decision] += 1
        score = float(rng.uniform(0, 1))
        sidecar.write_verdict(photo, result(photo, decision, ("blurry",) if decision != "keep" else (), score),
                              SidecarConfig())
    out = tmp_path / "cull.html"
    started = time.monotonic()
    report.write_report([folder], out, Config(), models=limits_models())
    first = time.monotonic() - started
    started = time.monotonic()
    report.write_report([folder], out, Config(), models=limits_models())
    cached = time.monotonic() - started
    size = out.stat().st_size
    record_property("first_seconds", round(first, 2))
    record_property("cached_seconds", round(cached, 2))
    record_property("html_bytes", size)
    print(f"2000 photos: first {first:.1f} s, cached {cached:.1f} s, {size / 1e6:.2f} MB of HTML")
    assert size < 2000 * 1500  # no inlined images: about a kilobyte a photo
    assert "base64" not in out.read_text(encoding="utf-8")
    assert len(list(out.with_name("cull.html.d").iterdir())) == 2000
    if shutil.which("chromium"):  # and it opens: every card is on the page
        assert selftest(tmp_path, out)["sections"] == expected


def test_a_burst_is_one_row_of_its_frames_with_the_pick_marked_and_each_sharpness(tmp_path: Path) -> None:
    frames = [make_photo(tmp_path / f"A_{i}.jpg", seed=i) for i in range(1, 4)]
    for i, photo in enumerate(frames):
        group = Membership("burst", "A_1-12345678", 3, best=i == 1)
        sidecar.write_verdict(photo, result(photo, "keep", (), 0.5 + 0.1 * i), SidecarConfig(), group=group)
    single = make_photo(tmp_path / "S.jpg", seed=9)
    sidecar.write_verdict(single, result(single, "keep", (), 0.9), SidecarConfig())

    page = report.write_report([tmp_path], tmp_path / "out" / "cull.html", Config(), limits_models())

    text = page.read_text(encoding="utf-8")
    rows = re.findall(r'<div class="group-row" data-kind="burst">.*?</div></div>', text)
    assert len(rows) == 1 and "1 burst" in text
    row = rows[0]
    assert re.findall(r">(A_\d\.jpg)<", row) == ["A_1.jpg", "A_2.jpg", "A_3.jpg"]
    assert re.findall(r"sharp (0\.\d\d)", row) == ["0.50", "0.60", "0.70"]
    assert re.findall(r'group-frame s-\w+( best)?">.*?(A_\d\.jpg)', row) == [("", "A_1.jpg"), (" best", "A_2.jpg"),
                                                                             ("", "A_3.jpg")]
    assert "the pick" in row and "S.jpg" not in row


def test_without_bursts_there_is_no_row_of_them(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "S.jpg")
    sidecar.write_verdict(photo, result(photo, "keep", (), 0.9), SidecarConfig())

    page = report.write_report([tmp_path], tmp_path / "cull.html", Config(), limits_models())

    assert "class=\"group-row\"" not in page.read_text(encoding="utf-8")
