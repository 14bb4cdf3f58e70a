"""Imports point one way: bot → dialogs → (ports implemented by) storage."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESSENGERS = {"telegram", "zalo", "aiogram", "zalo_sdk"}
FORBIDDEN = {
    "dialogs": MESSENGERS | {"sqlalchemy", "redis", "asyncpg", "aiohttp", "storage", "bot"},
    "storage": MESSENGERS | {"bot"},
}
# What storage may read of dialogs/: domain types and data (ports, the questionnaire, codes,
# parsers, text helpers), never a conversation flow.
DOMAIN = {"dialogs", "dialogs.ports", "dialogs.questionnaire", "dialogs.codes", "dialogs.parsers", "dialogs.text"}


def modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | ({f"{node.module}.{a.name}" for a in node.names} if node.module == "dialogs" else set())
    return names


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


def test_storage_reads_only_the_domain_of_dialogs():
    wrong = []
    for f in (ROOT / "storage").rglob("*.py"):
        flows = {m for m in modules(f) if m.startswith("dialogs") and m not in DOMAIN}
        if flows:
            wrong.append(f"{f.relative_to(ROOT)} imports {sorted(flows)}")
    assert not wrong, wrong


def test_no_layer_below_the_adapters_names_a_messenger_library():
    """The check above must be able to fail: a module importing telegram is caught."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.py"
        p.write_text("from telegram import Bot\nimport dialogs.review\n", "utf-8")
        assert imported(p) & FORBIDDEN["storage"] == {"telegram"}
        assert {m for m in modules(p) if m.startswith("dialogs")} - DOMAIN == {"dialogs.review"}
