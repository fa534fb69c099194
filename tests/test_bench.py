"""The benchmark's own machinery at toy size: corpus building and one run of each contender.

No timing is asserted here (timing targets live in bench/run.py's table); this only
proves the benchmark still works, so a broken one is caught before someone needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import rawpy

from blurwatch.sharpness import default_model_dir
from conftest import ROOT, requires_shared

pytest.importorskip("imagecodecs", reason="the benchmark's DNGs are lossless-JPEG compressed with imagecodecs")
sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import each other as siblings

import corpus  # noqa: E402
import run  # noqa: E402

pytestmark = [requires_shared, pytest.mark.slow]

SPEC = corpus.Spec(600, 400)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return corpus.build(tmp_path_factory.mktemp("cache"), SPEC, 2, corpus.KINDS)


def test_corpus_holds_each_kind_decodable(folders: dict[str, list[Path]]) -> None:
    assert [len(files) for files in folders.values()] == [2, 2, 2]
    assert folders["jpeg"][0].read_bytes()[:4] == b"\xff\xd8\xff\xe1"  # EXIF first, as cameras write
    with rawpy.imread(str(folders["raw-preview"][0])) as raw:
        assert raw.raw_image_visible.shape == (400, 600) and raw.white_level == corpus.RAW_WHITE
        assert raw.extract_thumb().format == rawpy.ThumbFormat.JPEG
    with rawpy.imread(str(folders["raw"][0])) as raw, pytest.raises(rawpy.LibRawNoThumbnailError):
        raw.extract_thumb()


def test_corpus_is_deterministic_and_cached(folders: dict[str, list[Path]], tmp_path: Path) -> None:
    again = corpus.build(tmp_path, SPEC, 1, ("jpeg", "raw"))
    for kind, files in again.items():
        assert files[0].read_bytes() == folders[kind][0].read_bytes()
    stamp = again["jpeg"][0].stat().st_mtime_ns
    corpus.build(tmp_path, SPEC, 1, ("jpeg",))
    assert again["jpeg"][0].stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_every_contender_runs_and_the_table_shows_the_ratios(folders: dict[str, list[Path]], tmp_path: Path) -> None:
    contenders = ["floor", "peer"]
    if (default_model_dir() / "sharpness.tflite").is_file():
        contenders.insert(0, "blurwatch")
    runs = run.benchmark({"jpeg": folders["jpeg"], "raw": folders["raw"]}, contenders, 1, 1, tmp_path)
    assert {(r.kind, r.contender) for r in runs} == {(k, c) for k in ("jpeg", "raw") for c in contenders}
    assert all(r.photos == 2 and r.failed == 0 and r.seconds > 0 and r.peak_rss_mb > 10 for r in runs)
    assert not list(folders["jpeg"][0].parent.glob("*.xmp"))  # blurwatch's sidecars are cleared after it
    text = run.table(runs)
    assert "| jpeg | floor |" in text and "| raw | peer |" in text
    if "blurwatch" in contenders:
        assert all(r.stages_ms["decode"] > 0 for r in runs if r.contender == "blurwatch")
        assert "blurwatch / floor" in text
