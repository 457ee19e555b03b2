"""Helpers for tests/security/test_bad_input.py: the string fields of a request schema found in the
OpenAPI document, the hostile values sent into them, and a one-query snapshot of every table."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.db import Base

# Bookkeeping a refused request may write by design (see tests/security/test_route_matrix.py).
COUNTERS = {"rate_limit_counters", "login_throttles"}
AUDIT_TABLES = {"audit_events", "audit_chain_heads"}

OVERLONG = "A" * 10_000


@dataclass(frozen=True)
class Payload:
    name: str
    value: Any
    # Text a free-text field must store as sent (when it fits); the rest is refused everywhere.
    storable: bool


PAYLOADS = [
    Payload("sql-or", "' OR '1'='1' --", storable=True),
    Payload("sql-drop", "'; DROP TABLE invoices; --", storable=True),
    Payload("sql-delete", "1); DELETE FROM patients; --", storable=True),
    Payload("html-script", "<script>alert(1)</script>", storable=True),
    Payload("html-attr", '"><img src=x onerror=alert(1)>', storable=True),
    Payload("rtl-override", "Smith \u202efdp.exe", storable=True),
    Payload("overlong", OVERLONG, storable=False),
    Payload("nul", "Ann\x00e Smith-Jones", storable=False),
    Payload("ansi-escape", "Ann\x1b[2Je Smith", storable=False),
    Payload("number", 12345, storable=False),
    Payload("object", {"$ne": "x"}, storable=False),
]


@dataclass(frozen=True)
class StringField:
    """A string-typed field of a request body: ``path`` into the JSON (ints index arrays)."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]  # the string alternative's schema (maxLength, pattern, enum...)
    array: bool  # a list of strings: the payload is sent as a one-element list
    allows_number: bool  # the schema also takes a JSON number (amounts)

    @property
    def name(self) -> str:
        return ".".join(str(p) for p in self.path)

    @property
    def free_text(self) -> bool:
        """Free text: bounded, but no pattern, format or enumeration to satisfy."""
        s = self.schema
        return (
            not self.array
            and "maxLength" in s
            and not {"pattern", "format", "enum", "const"} & s.keys()
        )

    def fits(self, value: str) -> bool:
        return int(self.schema.get("minLength", 0)) <= len(value) <= int(self.schema["maxLength"])


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def alternatives(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(spec, schema)
    alts = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [_resolve(spec, a) for a in alts]


def string_fields(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> list[StringField]:
    """Every string-typed field under ``schema``: nested objects, arrays of objects (at index 0)
    and arrays of strings, with ``$ref`` resolved against the document's components."""
    out: list[StringField] = []
    alts = alternatives(spec, schema)
    numeric = any(a.get("type") in {"number", "integer"} for a in alts)
    for alt in alts:
        kind = alt.get("type")
        if kind == "string":
            out.append(StringField(path, alt, array=False, allows_number=numeric))
        elif kind == "object" or "properties" in alt:
            for name, sub in alt.get("properties", {}).items():
                out += string_fields(spec, sub, (*path, name))
        elif kind == "array":
            items = alternatives(spec, alt["items"])
            for item in items:
                if item.get("type") == "string":
                    out.append(StringField(path, item, array=True, allows_number=False))
                elif item.get("type") == "object" or "properties" in item:
                    out += string_fields(spec, item, (*path, 0))
    return out


def with_value(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (the containers on the way must exist)."""
    new = copy.deepcopy(body)
    node: Any = new
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return new


def value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of every table but the audit trail and the counters, in one round trip."""
    session.flush()
    audit.flush_pending(session)
    tables = sorted(t for t in Base.metadata.tables if t not in COUNTERS | AUDIT_TABLES)
    sql = " union all ".join(f"select '{t}', count(*) from {t}" for t in tables)
    counts = {str(t): int(n) for t, n in session.execute(text(sql))}
    assert counts.keys() == set(tables)
    return counts


def audit_counts(session: Session) -> tuple[int, int]:
    """(change and read events, security events)."""
    session.flush()
    audit.flush_pending(session)
    row = session.execute(
        text(
            "select coalesce(sum(case when category = 'security' then 0 else 1 end), 0), "
            "coalesce(sum(case when category = 'security' then 1 else 0 end), 0) "
            "from audit_events"
        )
    ).one()
    return int(row[0]), int(row[1])


def echoes(r: httpx.Response, value: Any) -> bool:
    """Whether the response body repeats the submitted value (raw or JSON-escaped)."""
    if isinstance(value, str):
        probe = value[:100]
        return probe in r.text or json.dumps(probe)[1:-1] in r.text
    if isinstance(value, dict):
        return any(json.dumps(k) in r.text for k in value)
    return False


def problem_errors(r: httpx.Response) -> list[str]:
    """What is wrong with a 4xx answer: it must be problem+json with a dotted, stable code."""
    errors = []
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        errors.append(f"content-type {r.headers.get('content-type')!r}")
        return errors
    body = r.json()
    code = body.get("code")
    if not isinstance(code, str) or not code or code.startswith("http."):
        errors.append(f"code {code!r}")
    if body.get("status") != r.status_code:
        errors.append(f"status {body.get('status')!r} in the body")
    if body.get("type") != f"urn:revcycle:problem:{code}":
        errors.append(f"type {body.get('type')!r}")
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3"):
        if leak in r.text:
            errors.append(f"leaks {leak!r}")
    return errors
