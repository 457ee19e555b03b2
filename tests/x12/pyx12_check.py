"""Independent validation with pyx12 (dev dependency), through its Python API.

pyx12 4.0.0 ships no 5010 270/271 map (only 004010X092A1), so two checks are made:

* envelope: ``pyx12.x12file.X12Reader`` reads the interchange and reports ISA/IEA, GS/GE and
  ST/SE count and control-number errors (it also refuses a non-padded ISA);
* structure: ``pyx12.x12n_document.x12n_document`` validates a copy relabelled to the 4010 guide
  (GS08/ST03 004010X092A1, ISA12 00401, ISA11 U) against that map, and every error that is a
  known 4010/5010 difference is set aside (EB03/EQ01 repetitions and 5010-only service type
  codes, DTP*291 moved to 2100C in 5010, ST03 added in 5010). What remains must be empty.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

pytest.importorskip("pyx12", reason="pyx12 (dev extra) is not installed")
import pyx12.params  # noqa: E402
import pyx12.x12file  # noqa: E402
import pyx12.x12n_document  # noqa: E402

from revcycle.x12.codes import SERVICE_TYPES  # noqa: E402

# Service type codes 5010 added after the 4010 list pyx12's map carries.
_NEW_IN_5010 = {"UC", "CA", "CB", "CC", "CD", "CE", "CF", "CG", "CH", "CI", "CJ"}


def envelope_errors(text: str) -> list[tuple[str, ...]]:
    reader = pyx12.x12file.X12Reader(io.StringIO(text))
    for _ in reader:
        pass
    return [tuple(str(x) for x in e) for e in reader.pop_errors()]


def _known_difference(seg_id: str, code: str, text: str, value: str | None) -> bool:
    if seg_id in ("EB", "EQ") and code in ("5", "6", "7") and value is not None:
        parts = value.split("^")
        return all(p in SERVICE_TYPES for p in parts) and (
            len(parts) > 1 or parts[0] in _NEW_IN_5010
        )
    return seg_id == "DTP" and code == "1" and "DTP*291 not found" in text


def structure_errors(text: str) -> list[tuple[str, str, str]]:
    relabelled = (
        text.replace("005010X279A1", "004010X092A1")
        .replace("*00501*", "*00401*")
        .replace("*^*00401*", "*U*00401*")
    )
    out = io.StringIO()
    log = logging.getLogger("pyx12")
    was = log.disabled
    log.disabled = True  # pyx12 logs segment text; keep it out of the test log
    try:
        pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(relabelled), None, None, fd_json=out
        )
    finally:
        log.disabled = was
    found: list[tuple[str, str, str]] = []

    def walk(node: Any, seg_id: str | None) -> None:
        if isinstance(node, dict):
            seg_id = node.get("seg_id", seg_id)
            for err in node.get("errors") or []:
                if isinstance(err, dict) and "err_str" in err:
                    code, msg = str(err.get("err_cde")), str(err["err_str"])
                    if not _known_difference(seg_id or "", code, msg, err.get("err_val")):
                        found.append((seg_id or "", code, msg))
            for value in node.values():
                walk(value, seg_id)
        elif isinstance(node, list):
            for value in node:
                walk(value, seg_id)

    raw = out.getvalue()
    walk(json.loads(raw) if raw.strip() else {}, None)
    return found
