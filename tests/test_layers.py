"""Layers: library modules never import the orchestration (``recipes``, ``commands``, ``cli``).

Every ``import`` in ``src/eegssm`` outside ``recipes/``, ``commands/`` and ``cli.py`` is read from
the syntax tree (function-level imports included), so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "eegssm"
ORCHESTRATION = ("eegssm.recipes", "eegssm.commands", "eegssm.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_orchestration(name: str) -> bool:
    return any(name == o or name.startswith(o + ".") for o in ORCHESTRATION)


def orchestration_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """``"line: imported name"`` for each import of ``recipes`` / ``commands`` / ``cli`` in
    ``source`` (the code of ``module``; relative imports are resolved against it)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_package else parent[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found += [f"{node.lineno}: {n}" for n in names if _is_orchestration(n)]
    return sorted(set(found))


def _library_files() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] in ("recipes", "commands") or rel == ("cli.py",):
            continue
        out.append(path)
    return out


def test_the_walk_sees_the_library():
    names = {_module_name(p) for p in _library_files()}
    assert {"eegssm.evaluation", "eegssm.inference", "eegssm.nn.ssd", "eegssm.data"} <= names
    assert not any(_is_orchestration(n) for n in names)


@pytest.mark.parametrize(
    "source",
    [
        "import eegssm.recipes.detector",
        "from eegssm.recipes import eegm2",
        "from eegssm import commands",
        "def f():\n    from eegssm.commands.detect import find_inputs\n",
        "from ..recipes.detector import train_detector",
        "from eegssm.cli import main",
    ],
)
def test_the_checker_catches_every_import_form(source):
    assert orchestration_imports(source, "eegssm.scoring.traces") != []


def test_the_checker_allows_library_imports():
    ok = "import eegssm.inference\nfrom eegssm.scoring import traces\nfrom .. import detection\n"
    assert orchestration_imports(ok, "eegssm.scoring.traces") == []


def test_library_modules_do_not_import_recipes_or_commands():
    bad = {}
    for path in _library_files():
        module = _module_name(path)
        found = orchestration_imports(path.read_text(), module, path.name == "__init__.py")
        if found:
            bad[str(path.relative_to(PACKAGE))] = found
    assert bad == {}, f"library modules import the orchestration layer: {bad}"
