"""Imports point one way: bot → dialogs → (ports implemented by) storage; and dialogs name
their nodes only through the constants of dialogs/nodes.py."""

import ast
from pathlib import Path

import pytest

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


def _spelled_out(expr: ast.expr) -> bool:
    """Whether an expression builds a node name from a string literal ("a" or "rights." + x)."""
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp):
        return _spelled_out(expr.left) or _spelled_out(expr.right)
    if isinstance(expr, ast.IfExp):  # the test may hold literals (ctx.data.get("stale")): not a name
        return _spelled_out(expr.body) or _spelled_out(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return any(_spelled_out(v) for v in expr.values)
    return False


def _named(call: ast.Call) -> ast.expr | None:
    """The node name given to `node(...)`/`@node(...)` or `x.go(...)`, if this is such a call."""
    f = call.func
    if (isinstance(f, ast.Name) and f.id == "node") or (isinstance(f, ast.Attribute) and f.attr == "go"):
        given = call.args[:1] + [k.value for k in call.keywords if k.arg == "name"]
        return given[0] if given else None
    return None


def node_literals(path: Path) -> list[str]:
    """Lines where a node name is a string literal instead of a dialogs.nodes constant."""
    found = []
    for n in ast.walk(ast.parse(path.read_text("utf-8"))):
        names: list[ast.expr] = []
        if isinstance(n, ast.Call) and (given := _named(n)) is not None:
            names.append(given)
        elif isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)
                   and t.slice.value == "node" for t in targets):
                names.append(n.value)
        found += [f"{path.name}:{n.lineno}" for e in names if _spelled_out(e)]
    return found


def test_dialogs_name_nodes_by_constant():
    wrong = [line for f in sorted((ROOT / "dialogs").rglob("*.py")) if f.name != "nodes.py"
             for line in node_literals(f)]
    assert not wrong, wrong


@pytest.mark.parametrize("code", [
    '@node("link.code")\nclass C: pass\n',
    'node("declare.q." + key)(Ask)\n',
    'await ctx.go("rights." + action)\n',
    'await ctx.go(f"rights.{action}", remember=False)\n',
    'await ctx.go(HOME if ok else "link.code")\n',
    'ctx.state["node"] = "link.code"\n',
    'state["node"]: str = "home"\n',
])
def test_a_spelled_out_node_name_is_caught(tmp_path, code):
    assert node_literals(_module(tmp_path, code)) == ["x.py:2"], code


@pytest.mark.parametrize("code", [
    "@node(nodes.LINK_CODE)\nclass C: pass\n",
    'node(nodes.question(key))(Ask)\n',
    'await ctx.go(nodes.NHACNHO_DAYS if ctx.data.get("stale") else nodes.NHACNHO_QUARTER)\n',
    'ctx.state["node"] = nodes.LINK_CODE\n',
    'ctx.say("link.code", keyboard=NAV)\n',  # a message id, not a node
    'ctx.state["data"] = "link.code"\n',
])
def test_a_constant_or_a_message_id_passes(tmp_path, code):
    assert node_literals(_module(tmp_path, code)) == [], code


def _module(tmp_path: Path, code: str) -> Path:
    """`code` as the body of a function in a module, starting on its line 2."""
    p = tmp_path / "x.py"
    p.write_text("async def f():\n" + "".join("    " + line + "\n" for line in code.splitlines()), "utf-8")
    return p
