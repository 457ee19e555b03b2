"""Rules of the house (docs: CONVENTIONS.md sections 1-4), checked on the source itself."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Float, Numeric

import revcycle.models  # noqa: F401 - registers every table on Base.metadata
from revcycle.db import Base

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "revcycle"

# Adapters: wiring only. Everything else is domain (or kit) code.
ADAPTER_PACKAGES = {"api", "cli", "web", "worker"}
ADAPTER_MODULES = {"endpoints.py", "views.py", "commands.py", "app.py"}
FORBIDDEN_IN_DOMAIN = ("revcycle.api", "revcycle.cli", "revcycle.web", "fastapi", "starlette")


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def is_adapter(path: Path) -> bool:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] in ADAPTER_PACKAGES or path.name in ADAPTER_MODULES


def module_name(path: Path) -> str:
    parts = ["revcycle", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source``, relative ones resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return [
        f"{line}: {name}"
        for line, name in imported_modules(source, module, is_package=is_package)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    ]


def test_the_source_tree_is_where_we_think() -> None:
    assert (PACKAGE / "money.py").is_file()
    domain = [p for p in sources() if not is_adapter(p)]
    assert len(domain) > 40
    assert PACKAGE / "ledger" / "service.py" in domain
    assert PACKAGE / "ledger" / "endpoints.py" not in domain


def test_domain_code_never_imports_adapters_or_the_web_framework() -> None:
    offences = [
        f"{rel(path)}:{problem}"
        for path in sources()
        if not is_adapter(path)
        for problem in forbidden_imports(
            path.read_text(), module_name(path), is_package=path.name == "__init__.py"
        )
    ]
    assert offences == []


@pytest.mark.parametrize(
    ("source", "module", "found"),
    [
        (
            "from ..api import context",
            "revcycle.ledger.service",
            ["1: revcycle.api", "1: revcycle.api.context"],
        ),
        ("from .. import cli", "revcycle.ledger.service", ["1: revcycle.cli"]),
        ("import fastapi.routing", "revcycle.ledger.service", ["1: fastapi.routing"]),
        (
            "from starlette.responses import Response",
            "revcycle.kit.render",
            ["1: starlette.responses", "1: starlette.responses.Response"],
        ),
        (
            "\nfrom revcycle.api.context import Ctx",
            "revcycle.money",
            ["2: revcycle.api.context", "2: revcycle.api.context.Ctx"],
        ),
        ("from . import repository", "revcycle.ledger.service", []),
        ("from .apiary import x", "revcycle.ledger.service", []),
        ("import fastapix", "revcycle.ledger.service", []),
    ],
)
def test_import_checker_catches_violations(source: str, module: str, found: list[str]) -> None:
    assert forbidden_imports(source, module) == found


def test_module_names() -> None:
    assert module_name(PACKAGE / "ledger" / "service.py") == "revcycle.ledger.service"
    assert module_name(PACKAGE / "ledger" / "__init__.py") == "revcycle.ledger"


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_only_the_unit_of_work_commits() -> None:
    offences = []
    for path in sources():
        if rel(path) == "db.py":
            continue
        for call in _calls(ast.parse(path.read_text())):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "commit":
                offences.append(f"{rel(path)}:{call.lineno}")
    assert offences == []


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


CLOCK_CALLS = {"now", "utcnow", "today", "utcfromtimestamp", "fromtimestamp"}
DATETIME_NAMES = {
    "datetime",
    "date",
    "dt.datetime",
    "dt.date",
    "datetime.datetime",
    "datetime.date",
}


def clock_offences(source: str) -> list[str]:
    offences = []
    tree = ast.parse(source)
    for call in _calls(tree):
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in CLOCK_CALLS
            and _dotted(func.value) in DATETIME_NAMES
        ):
            offences.append(f"{call.lineno} {_dotted(func)}()")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "datetime":
            names = sorted(a.name for a in node.names if a.name in {"datetime", "date"})
            if names:
                offences.append(f"{node.lineno} from datetime import {', '.join(names)}")
    return offences


def test_time_comes_from_kit_clock_only() -> None:
    offences = [
        f"{rel(path)}:{o}"
        for path in sources()
        if rel(path) != "kit/clock.py"
        for o in clock_offences(path.read_text())
    ]
    assert offences == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import datetime as dt\nx = dt.datetime.now()", ["2 dt.datetime.now()"]),
        ("import datetime as dt\nx = dt.date.today()", ["2 dt.date.today()"]),
        ("import datetime\nx = datetime.datetime.utcnow()", ["2 datetime.datetime.utcnow()"]),
        ("from datetime import date", ["1 from datetime import date"]),
        ("from revcycle.kit.clock import today\nx = today()", []),
        ("from revcycle.kit import clock\nx = clock.utcnow()", []),
        ("import datetime as dt\nx = dt.timedelta(days=1)", []),
    ],
)
def test_clock_checker(source: str, found: list[str]) -> None:
    assert clock_offences(source) == found


def test_clock_is_utc() -> None:
    from revcycle.kit import clock

    now = clock.utcnow()
    assert now.utcoffset() == dt.timedelta(0)
    assert type(clock.today()) is dt.date


def test_models_have_no_float_annotations() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("models.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.AnnAssign):
                text = ast.unparse(node.annotation)
                if "float" in text or "Decimal" in text:
                    offences.append(f"{rel(path)}:{node.lineno} {text}")
            if isinstance(node, ast.Name | ast.Attribute):
                name = _dotted(node).rsplit(".", 1)[-1]
                if name in {"Float", "Numeric", "DECIMAL", "REAL", "Double", "DOUBLE_PRECISION"}:
                    offences.append(f"{rel(path)}:{node.lineno} {name}")
    assert len(list(PACKAGE.rglob("models.py"))) >= 8
    assert offences == []


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_no_inexact_column_types(table: str) -> None:
    for column in Base.metadata.tables[table].columns:
        assert not isinstance(column.type, Float | Numeric), f"{table}.{column.name}"
        if column.name.endswith("_minor"):
            assert isinstance(column.type, BigInteger), f"{table}.{column.name}"


def test_migrations_use_no_inexact_types() -> None:
    offences = []
    for path in sorted((PACKAGE / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {
                "Float",
                "Numeric",
                "DECIMAL",
                "REAL",
                "Double",
            }:
                offences.append(f"{path.name}:{node.lineno} {node.attr}")
    assert offences == []


def test_money_columns_are_named_minor() -> None:
    """An integer amount column is *_minor; no 'amount'/'price'/'total' column in major units."""
    suspicious = [
        f"{t.name}.{c.name}"
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if any(w in c.name for w in ("amount", "price", "total", "balance"))
        and not c.name.endswith("_minor")
    ]
    assert suspicious == []
