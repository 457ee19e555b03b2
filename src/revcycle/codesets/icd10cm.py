"""Streaming reader of the ICD-10-CM Tabular List XML (CDC/NCHS ``icd10cm-tabular-*.xml``).

The tabular list is a tree of ``<diag>`` elements (category ``E11`` > subcategory ``E11.6`` > code
``E11.65``...). Two rules decide what can be billed, and the XML states neither directly:

* only a **leaf** ``<diag>`` is a complete code; a ``<diag>`` with children is a header;
* a ``<sevenChrDef>`` on a diag applies to every code beneath it: those codes are complete only
  with a 7th character, padded with the placeholder ``X`` to six characters first
  (``S52.521`` + ``A`` -> ``S52.521A``; ``T36.0`` -> ``T36.0X1A``... ``T360X1A``). The nearest
  definition up the tree wins.

So each leaf under a 7th-character definition yields one billable code per extension, and the
leaf itself is stored as a header. Memory stays flat: elements are cleared as soon as they end.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET  # noqa: S405 - the publisher's file, no DTDs or entities
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class TabularError(ValueError):
    """The file is not an ICD-10-CM tabular list (or is damaged)."""


@dataclass(frozen=True)
class Icd10Row:
    code: str  # without the dot, upper case: "S52521A"
    description: str
    billable: bool


@dataclass
class _Open:
    seven: dict[str, str] | None = None
    has_children: bool = False
    extra: list[str] = field(default_factory=list)


def dotted(code: str) -> str:
    """``S52521A`` -> ``S52.521A`` (the form people read; claims carry the undotted form)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def undotted(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_version(path: Path) -> str:
    """The ``<version>`` of the file (e.g. "2026"), read without parsing the whole tree."""
    with _open(path) as fh:
        try:
            for _ev, el in ET.iterparse(fh, events=("end",)):  # noqa: S314
                if el.tag == "version":
                    return (el.text or "").strip()
                if el.tag == "chapter":
                    break
        except ET.ParseError as exc:
            raise TabularError(f"not readable as ICD-10-CM tabular XML: {exc}") from None
    raise TabularError("no <version> element: not an ICD-10-CM tabular list")


def rows(path: Path) -> Iterator[Icd10Row]:
    """Every header and every billable code of the file, in file order."""
    with _open(path) as fh:
        yield from _rows(fh)


def _rows(fh: IO[bytes]) -> Iterator[Icd10Row]:
    stack: list[_Open] = []
    root_seen = False
    try:
        for event, el in ET.iterparse(fh, events=("start", "end")):  # noqa: S314
            if not root_seen:
                if el.tag != "ICD10CM.tabular":
                    raise TabularError(f"root element is <{el.tag}>, not <ICD10CM.tabular>")
                root_seen = True
            if el.tag == "sevenChrDef" and event == "end" and stack:
                stack[-1].seven = {
                    (ext.get("char") or "").strip().upper(): " ".join((ext.text or "").split())
                    for ext in el.findall("extension")
                }
                continue
            if el.tag != "diag":
                continue
            if event == "start":
                if stack:
                    stack[-1].has_children = True
                stack.append(_Open())
                continue
            node = stack.pop()
            name = undotted(el.findtext("name") or "")
            desc = " ".join((el.findtext("desc") or "").split())
            if not name or not desc:
                raise TabularError("a <diag> without <name> or <desc>")
            seven = next((s.seven for s in [node, *reversed(stack)] if s.seven), None)
            if node.has_children or not seven:
                yield Icd10Row(name, desc, billable=not node.has_children)
            else:
                yield Icd10Row(name, desc, billable=False)
                base = name.ljust(6, "X")
                for char, meaning in seven.items():
                    yield Icd10Row(f"{base}{char}", f"{desc}, {meaning}", billable=True)
            el.clear()
    except ET.ParseError as exc:
        raise TabularError(f"not readable as ICD-10-CM tabular XML: {exc}") from None
    if not root_seen:
        raise TabularError("empty file")
