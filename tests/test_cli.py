"""`detente check` end to end: formats, exit statuses, and clear errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detente.cli import app

EXAMPLES = Path(__file__).parents[1] / "src" / "detente" / "examples"
COALITION = EXAMPLES / "coalition.geojson"
RUSSIA = EXAMPLES / "russia.geojson"
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def write_plan(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def block(fid: str, party: str, lon: float, start: str = "2015-10-01T06:00:00Z") -> dict:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lon, 35.0]},
        "properties": {
            "kind": "airspace",
            "party": party,
            "start": start,
            "end": "2015-10-01T08:00:00Z",
            "radius_m": 5000,
            "alt_lower_m": 3000,
            "alt_upper_m": 6000,
        },
    }


def test_json_result_follows_the_contract() -> None:
    code, out, _ = run("--format", "json", COALITION, RUSSIA)
    assert code == 1
    document = json.loads(out)
    assert set(document) == {"conflicts", "stats"}
    assert document["stats"]["items"] == 12
    assert document["stats"]["conflicts"] == len(document["conflicts"]) > 0
    kinds = {c["kind"] for c in document["conflicts"]}
    assert {"air", "zone", "strike-ground"} <= kinds
    for c in document["conflicts"]:
        assert set(c) == {"kind", "a", "b", "start", "end", "closest"}
        assert set(c["a"]) == set(c["b"]) == {"party", "id"}
        assert c["a"]["party"] != c["b"]["party"]
        assert INSTANT.match(c["start"]) and INSTANT.match(c["end"])
        assert c["start"] < c["end"]
        closest = c["closest"]
        assert set(closest) == {"time", "position", "horizontal_m", "vertical_m"}
        assert c["start"] <= closest["time"] <= c["end"]
        assert len(closest["position"]) == 3
    strike = next(c for c in document["conflicts"] if c["kind"] == "strike-ground")
    assert strike["a"]["id"] == "STRIKE-TABQA-3"
    zone = next(c for c in document["conflicts"] if c["kind"] == "zone")
    assert zone["b"]["id"] == "AD-HMEIMIM"


def test_clear_plans_exit_zero(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.geojson", [block("a", "blue", 36.0), block("b", "red", 37.0)])
    code, out, _ = run("--format", "json", plan)
    assert code == 0
    assert json.loads(out)["conflicts"] == []


def test_include_own_reports_a_party_against_itself(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.geojson", [block("a", "blue", 36.0), block("b", "blue", 36.05)])
    assert run("--format", "json", plan)[0] == 0
    code, out, _ = run("--format", "json", "--include-own", plan)
    assert code == 1
    assert len(json.loads(out)["conflicts"]) == 1


def test_agreement_file_changes_the_minima(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.geojson", [block("a", "blue", 36.0), block("b", "red", 36.15)])
    # Centres 13.7 km apart, radii 5 km: 3.7 km between the circles.
    assert run("--format", "json", plan)[0] == 1
    agreement = tmp_path / "a.toml"
    agreement.write_text("horizontal_m = 3000\n")
    assert run("--format", "json", "--agreement", agreement, plan)[0] == 0


def test_geojson_output_has_worst_point_and_both_items(tmp_path: Path) -> None:
    out_file = tmp_path / "conflicts.geojson"
    code, _, _ = run("--format", "geojson", "--output", out_file, COALITION, RUSSIA)
    assert code == 1
    document = json.loads(out_file.read_text())
    assert document["type"] == "FeatureCollection"
    roles: dict[int, set[str]] = {}
    for feature in document["features"]:
        props = feature["properties"]
        roles.setdefault(props["conflict"], set()).add(props["role"])
        assert feature["geometry"]["type"] in {"Point", "LineString", "Polygon", "MultiPolygon"}
        if props["role"] == "a" and props["item_kind"] == "flight":
            track = feature["geometry"]["coordinates"]
            assert len(track) >= 2 and all(len(p) == 3 for p in track)
    assert roles and all(r == {"closest", "a", "b"} for r in roles.values())


def test_table_is_readable(tmp_path: Path) -> None:
    out_file = tmp_path / "table.txt"
    code, _, _ = run("--format", "table", "--output", out_file, COALITION, RUSSIA)
    assert code == 1
    text = out_file.read_text()
    assert "worst first" in text and "NM" in text and "ft" in text
    assert "VIPER11" in text and "12 plan item(s) checked" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "id": 5}]}', "feature 0"),
    ],
)
def test_invalid_input_exits_two_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(content)
    code, out, err = run("--format", "json", bad)
    assert code == 2
    assert out == ""
    assert message in err and "bad.geojson" in err
    assert "Traceback" not in err


def test_missing_file_exits_two(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "nowhere.geojson")
    assert code == 2
    assert "nowhere.geojson" in err and "Traceback" not in err


def test_bad_agreement_exits_two(tmp_path: Path) -> None:
    agreement = tmp_path / "a.toml"
    agreement.write_text("horizontal_nm = 5\n")
    code, _, err = run("--agreement", agreement, COALITION)
    assert code == 2
    assert "horizontal_nm" in err


def test_skip_invalid_keeps_the_good_features(tmp_path: Path) -> None:
    bad = block("b", "red", 36.05)
    bad["properties"]["start"] = "yesterday"
    plan = write_plan(
        tmp_path / "p.geojson", [block("a", "blue", 36.0), bad, block("c", "red", 36.06)]
    )
    assert run("--format", "json", plan)[0] == 2
    code, out, err = run("--format", "json", "--skip-invalid", plan)
    assert code == 1
    assert "skipped" in err and "feature 1" in err
    document = json.loads(out)
    assert document["stats"]["items"] == 2


def test_empty_collection_is_clear(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.geojson", [])
    code, out, err = run("--format", "json", plan)
    assert code == 0
    assert "no plan items" in err
    assert json.loads(out)["stats"]["items"] == 0


def test_usage_error_exits_two() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2


def test_installed_command_runs_as_a_process(tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "detente",
            "check",
            "--format",
            "json",
            "--output",
            str(out_file),
            str(COALITION),
            str(RUSSIA),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(out_file.read_text())["stats"]["items"] == 12
