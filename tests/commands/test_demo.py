"""``blurwatch demo``: the example folder culled the way the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurwatch import demo
from blurwatch.sharpness import default_model_dir
from helpers.cli import blurwatch, json_lines

requires_model = pytest.mark.skipif(
    not (default_model_dir() / "sharpness.json").is_file(), reason="the shipped sharpness model is not built yet"
)


@requires_model
def test_demo_command_culls_as_expected(tmp_path: Path) -> None:
    done = blurwatch("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "every verdict as expected" in done.stdout, done.stdout
    stored = blurwatch("verdict", "--json", "blurwatch-demo", cwd=tmp_path)
    verdicts = {Path(r["path"]).name: r["verdict"] for r in json_lines(stored.stdout)}
    assert all(photo.matches(verdicts[photo.name]) for photo in demo.PHOTOS), verdicts
