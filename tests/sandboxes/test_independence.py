"""The sandboxes are peers of the adapters, not their copies: neither imports the other.

A test of an adapter against a sandbox that shares its signing or canonicalisation
cannot find a bug in either; so each sandbox is written from the provider's documents.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def imports_of(package: str, forbidden: str) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = sorted(
            m for m in imported_modules(path) if m == forbidden or m.startswith(f"{forbidden}.")
        )
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("sandboxes", "integrations"),
        ("integrations", "sandboxes"),
        # The adapters take their configuration as arguments (core/outside.py reads it).
        ("integrations", "django"),
    ],
)
def test_neither_side_imports_the_other(package, forbidden):
    assert imports_of(package, forbidden) == {}


def test_the_check_sees_an_import_when_there_is_one(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("from integrations.payments import alipay\nimport integrations.banks\n")
    assert imported_modules(module) >= {"integrations.payments", "integrations.banks"}
