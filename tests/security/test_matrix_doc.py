from __future__ import annotations

from pathlib import Path

from revcycle.auth.matrix_doc import render


def test_security_doc_carries_the_generated_matrix() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    assert render() in doc, "docs/security.md is stale: run python -m revcycle.auth.matrix_doc"
