"""The photographer's table, computed from a made out-of-fold table."""

from __future__ import annotations

import pytest

from helpers.oof import FIGURES, made_table
from training import evaluate


def test_separable_photos_are_judged_right_with_nested_limits() -> None:
    figures = evaluate.photographer_figures(evaluate.judge_table(made_table()))
    assert figures["n_good"] == 80 and figures["n_bad"] == 50
    assert figures["good_rejected"] == 0.0
    assert figures["bad_caught"] == pytest.approx(1.0)
    assert figures["blurry_natural_caught"] == pytest.approx(1.0) and figures["dark_caught"] == pytest.approx(1.0)


def test_the_baseline_is_judged_the_same_way() -> None:
    figures = evaluate.photographer_figures(evaluate.judge_table(made_table(), baseline=True))
    assert figures["blurry_natural_caught"] == pytest.approx(1.0)  # the Laplacian separates these too


def test_a_stricter_sensitivity_rejects_more() -> None:
    lenient, strict = (evaluate.photographer_figures(evaluate.judge_table(made_table(1), sensitivity=s))
                       for s in (-1.0, 1.0))
    assert strict["bad_caught"] >= lenient["bad_caught"]
    assert strict["good_rejected"] + strict["good_review"] >= lenient["good_rejected"] + lenient["good_review"]


def test_each_source_has_its_own_figures() -> None:
    assert set(evaluate.per_source(evaluate.judge_table(made_table()))) == {"source0", "source1"}


def test_blurwatch_0_1_rules_for_comparison() -> None:
    assert evaluate.hand_rules_0_1({**FIGURES, "mean_ev": -4.0, "highlights": 60}) == ("dark",)
    assert evaluate.hand_rules_0_1({**FIGURES, "mean_ev": 1.5, "clipped": 0.2}) == ("overexposed",)
    assert evaluate.hand_rules_0_1(FIGURES) == ()


def test_the_report_prints_as_tables() -> None:
    report = evaluate.cross_validated(made_table())
    text = evaluate.markdown(report)
    assert "| good photos rejected |" in text and "| sensitivity |" in text and "source0" in text


def test_another_labelled_set_is_read_from_a_manifest_or_label_folders(tmp_path) -> None:
    (tmp_path / "sharp").mkdir()
    (tmp_path / "sharp" / "a.jpg").write_bytes(b"")
    assert evaluate.read_labelled(tmp_path) == [(tmp_path / "sharp" / "a.jpg", "sharp", tmp_path.name)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("relpath,label,source_repo\nsharp/a.jpg,sharp,someone/photos\n", encoding="utf-8")
    assert evaluate.read_labelled(manifest) == [(tmp_path / "sharp" / "a.jpg", "sharp", "someone/photos")]
