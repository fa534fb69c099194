"""``blurwatch verdict``: what ``--once`` stored, read back from the sidecars without scoring."""

from __future__ import annotations

from pathlib import Path

from blurwatch import sidecar
from blurwatch.commands import verdict
from blurwatch.config import SidecarConfig
from commands.conftest import Culled
from helpers.cli import blurwatch, json_lines
from helpers.results import photo_result


def test_verdict_reads_back_what_once_stored(culled: Culled) -> None:
    folder, once, _ = culled
    done = blurwatch("verdict", "--json", folder)
    assert done.returncode == 0, done.stderr
    scored = {r["path"]: r for r in json_lines(once.stdout)}
    for record in json_lines(done.stdout):
        if "error" in scored[record["path"]]:
            assert record == {"path": record["path"], "verdict": None}
            continue
        assert record["verdict"] == scored[record["path"]]["verdict"]
        assert record["reasons"] == scored[record["path"]]["reasons"]
        assert record["sidecar"] in scored[record["path"]]["sidecar"]
        assert abs(record["sharpness"] - scored[record["path"]]["scores"]["sharpness"]) < 1e-3
        assert record["rating_is_manual"] is False


def test_a_record_per_photo_and_a_line_for_people(tmp_path: Path) -> None:
    photo, unscored = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo.write_bytes(b"")
    sidecar.write_verdict(photo, photo_result(photo, "reject", ("blurry",)), SidecarConfig())
    record = verdict.as_record(photo, sidecar.read_verdict(photo))
    assert record["verdict"] == "reject" and record["rating"] == -1 and record["scored"]
    assert verdict.describe(record) == f"{photo}: reject (blurry), rating -1"
    assert verdict.as_record(unscored, None) == {"path": str(unscored), "verdict": None}
    assert verdict.describe(verdict.as_record(unscored, None)) == f"{unscored}: no verdict"
