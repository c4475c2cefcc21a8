"""Apps tell each other things through the outbox, never through signals of their own.

A signal runs its receivers inside the sender's transaction and locks, and hides who
depends on whom. The project listens only to the framework's signals (Django's, Celery's,
django-axes'), and defines none.
"""

from __future__ import annotations

import ast

from tests.core.test_import_graph import PACKAGES, project_modules


def _imported_from(tree: ast.Module) -> dict[str, str]:
    """Each name a module imports, to the module it comes from."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = alias.name
    return names


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _signals_listened_to(tree: ast.Module) -> list[ast.expr]:
    """The signal of every ``@receiver(signal)`` and ``signal.connect(...)``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "receiver" and node.args:
            found.append(node.args[0])
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            found.append(node.func.value)
    return found


def test_no_module_defines_a_signal():
    defining = []
    for name, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Signal":
                defining.append(name)
    assert defining == []


def test_every_signal_listened_to_is_the_framework_s():
    ours = []
    for name, path in project_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _imported_from(tree)
        for signal in _signals_listened_to(tree):
            source = imported.get(_root_name(signal) or "", "")
            if source.split(".")[0] in PACKAGES:
                ours.append(f"{name}: {ast.unparse(signal)} from {source}")
    assert ours == []


def test_the_check_sees_a_receiver_of_a_project_signal():
    tree = ast.parse(
        "from billing.events import changed\n"
        "@receiver(changed)\ndef on_change(sender, **kwargs): ...\n"
        "changed.connect(on_change)\n"
    )
    imported = _imported_from(tree)
    sources = {imported[_root_name(signal)] for signal in _signals_listened_to(tree)}
    assert sources == {"billing.events"}
