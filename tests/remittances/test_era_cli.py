"""`revcycle era parse FILE [--json]`: the documented summary, exit status, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from revcycle.cli.main import app
from revcycle.x12.remittance import Reader835, Remittance, remittance_json
from tests.remittances.test_parse_835 import BODY, text

runner = CliRunner()


def _write(tmp_path: Path, content: str, name: str = "era.835") -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_json_summary_of_a_good_file(tmp_path: Path) -> None:
    content = text() + text(control="000000102")
    path = _write(tmp_path, content)
    r = runner.invoke(app, ["era", "parse", str(path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    expected = [remittance_json(x) for x in Reader835(content) if isinstance(x, Remittance)]
    assert doc == {"transactions": expected, "errors": []}
    assert doc["transactions"][0]["balanced"] is True


def test_an_unbalanced_file_is_listed_with_balanced_false(tmp_path: Path) -> None:
    body = [s.replace("114.15", "114.14") if s.startswith("BPR") else s for s in BODY]
    path = _write(tmp_path, text(body))
    r = runner.invoke(app, ["era", "parse", str(path), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["transactions"][0]["balanced"] is False
    r = runner.invoke(app, ["era", "parse", str(path)])
    assert r.exit_code == 0
    assert "NOT balanced (1 problems)" in r.stdout
    assert "but BPR02 is 114.14 (difference -0.01)" in r.stdout


def test_errors_name_segment_and_position_and_exit_1(tmp_path: Path) -> None:
    body = [s.replace("CAS*CO*45*45", "CAS*CO*45*45.001") for s in BODY]
    path = _write(tmp_path, text(body) + text(control="000000102"))
    r = runner.invoke(app, ["era", "parse", str(path), "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert len(doc["transactions"]) == 1  # the good set is still listed
    assert doc["errors"] == [
        {
            "code": "x12.bad_amount",
            "message": "CAS03 '45.001' has more than two decimals (segment CAS at position 19)",
            "segment": "CAS",
            "position": 19,
            "transaction": "0001",
        }
    ]


def test_a_truncated_file(tmp_path: Path) -> None:
    path = _write(tmp_path, text()[:-60])
    r = runner.invoke(app, ["era", "parse", str(path), "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["transactions"] == []
    assert doc["errors"]
    assert all(e["position"] for e in doc["errors"])
    r = runner.invoke(app, ["era", "parse", str(path)])
    assert r.exit_code == 1
    assert "error:" in r.stdout


def test_usage_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["era", "parse", str(tmp_path / "missing.835")])
    assert r.exit_code == 2
    assert "no such file" in r.stderr
