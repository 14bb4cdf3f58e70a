"""Imports point one way: bot → dialogs → (ports implemented by) storage."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "dialogs": {"telegram", "sqlalchemy", "redis", "asyncpg", "aiohttp", "storage", "bot"},
    "storage": {"telegram", "bot"},
}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_one_way():
    wrong = []
    for layer, banned in FORBIDDEN.items():
        for f in (ROOT / layer).rglob("*.py"):
            bad = imported(f) & banned
            if bad:
                wrong.append(f"{f.relative_to(ROOT)} imports {sorted(bad)}")
    assert not wrong, wrong
