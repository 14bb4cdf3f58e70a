"""Every audit code the code can write (action, outcome, actor kind) has a label in every
language: staff read the log on the console and at the terminal, residents in their data.

The codes are read from the source, not listed by hand: every call that ends in
`storage.audit.entry()` (directly, or through a function that passes its own parameter on,
such as `AuditLog.record` or `fhir.export.audit_entry`) gives the literals at its call sites."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import locales

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("storage", "bot", "web", "dialogs")
ROLES = ("action", "outcome", "actor_kind")
# Actor kinds have two labels: staff read "Dòng lệnh", a resident reading their own data "cán bộ (trên máy chủ)".
PREFIXES = {"action": ("privacy.action.",), "outcome": ("privacy.outcome.",),
            "actor_kind": ("privacy.kind.", "privacy.actor.")}


@dataclass
class Writer:
    """A function that writes an audit row: where each code arrives among its parameters."""

    params: dict[str, tuple[int | None, str]] = field(default_factory=dict)  # role -> (position, keyword)
    defaults: dict[str, set[str]] = field(default_factory=dict)
    method: bool = False


@dataclass
class Source:
    module: str
    tree: ast.Module
    imports: dict[str, str]  # local name -> dotted name
    consts: dict[str, ast.expr]  # module-level NAME = <expr>


def _module(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def _sources(root: Path, folders=FOLDERS) -> list[Source]:
    out = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text("utf-8"))
            imports, consts = {}, {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imports |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
                elif isinstance(node, ast.Import):
                    imports |= {a.asname or a.name: a.name for a in node.names}
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    consts[node.targets[0].id] = node.value
            out.append(Source(_module(path, root), tree, imports, consts))
    return out


def _functions(src: Source):
    """(qualified name, def node, is a method) for every function of a module."""
    for node in src.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{src.module}.{node.name}", node, False
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{src.module}.{node.name}.{item.name}", item, True


def _params(fn, method: bool) -> dict[str, tuple[int | None, ast.expr | None]]:
    """name -> (position, or None for keyword-only; default) of a function's parameters."""
    positional = [*fn.args.posonlyargs, *fn.args.args]
    defaults = [None] * (len(positional) - len(fn.args.defaults)) + list(fn.args.defaults)
    out = {a.arg: (i - method, d) for i, (a, d) in enumerate(zip(positional, defaults, strict=True))}
    out |= {a.arg: (None, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True)}
    if method:
        out.pop(positional[0].arg, None)  # self
    return out


def _callee(call: ast.Call, src: Source, cls: str | None, writers: dict[str, Writer]) -> Writer | None:
    f = call.func
    if isinstance(f, ast.Name):
        return writers.get(src.imports.get(f.id, f"{src.module}.{f.id}"))
    if not isinstance(f, ast.Attribute):
        return None
    if isinstance(f.value, ast.Name) and f.value.id in src.imports:  # module.function
        return writers.get(f"{src.imports[f.value.id]}.{f.attr}")
    if isinstance(f.value, ast.Name) and f.value.id == "self" and cls:
        return writers.get(f"{cls}.{f.attr}")
    # a service reached through an object (ctx.svc.audit.record): any writing method of that name
    return next((w for name, w in writers.items() if w.method and name.endswith("." + f.attr)), None)


def _argument(call: ast.Call, where: tuple[int | None, str]) -> ast.expr | None:
    pos, kw = where
    for k in call.keywords:
        if k.arg == kw:
            return k.value
    if pos is not None and pos < len(call.args) and not isinstance(call.args[pos], ast.Starred):
        return call.args[pos]
    return None


def _walk_calls(src: Source):
    """(call, enclosing function's qualified name, its def, is a method, its class) for every call."""
    for qual, fn, method in _functions(src):
        cls = qual.rsplit(".", 1)[0] if method else None
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                yield node, qual, fn, method, cls


def writers_of(sources: list[Source]) -> dict[str, Writer]:
    """storage.audit.entry, and every function that hands one of its parameters on to a writer."""
    writers = {"storage.audit.entry": Writer(
        params={"action": (0, "action"), "outcome": (None, "outcome"), "actor_kind": (None, "actor_kind")},
        defaults={"outcome": {"ok"}})}
    changed = True
    while changed:
        changed = False
        for src in sources:
            for call, qual, fn, method, cls in _walk_calls(src):
                callee = _callee(call, src, cls, writers)
                if callee is None or qual == "storage.audit.entry":
                    continue
                params = _params(fn, method)
                mine = writers.get(qual) or Writer(method=method)
                for role in ROLES:
                    where = callee.params.get(role)
                    arg = _argument(call, where) if where else None
                    if arg is None and where and _passes_kwargs(call, fn) and role not in mine.params:
                        mine.params[role] = (None, where[1])  # entry(action, **kw): the role arrives by keyword
                    if isinstance(arg, ast.Name) and arg.id in params and role not in mine.params:
                        pos, default = params[arg.id]
                        mine.params[role] = (pos, arg.id)
                        if isinstance(default, ast.Constant) and isinstance(default.value, str):
                            mine.defaults[role] = {default.value}
                if mine.params and qual not in writers:
                    writers[qual] = mine
                    changed = True
    return writers


def _passes_kwargs(call: ast.Call, fn) -> bool:
    """Whether the call hands on the function's own **kwargs."""
    kw = fn.args.kwarg
    return kw is not None and any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == kw.arg
                                  for k in call.keywords)


def _literals(expr: ast.expr, src: Source) -> set[str] | None:
    """The strings an argument can be, or None when it is built in a way this test cannot follow."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        a, b = _literals(expr.body, src), _literals(expr.orelse, src)
        return None if a is None or b is None else a | b
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):  # AUDIT[kind], a module-level dict
        table = src.consts.get(expr.value.id)
        if isinstance(table, ast.Dict):
            found = [_literals(v, src) for v in table.values]
            return None if any(f is None for f in found) else set().union(*found)
    return None


def codes_written(root: Path = ROOT, folders=FOLDERS) -> tuple[dict[str, set[str]], list[str]]:
    """role -> codes; and the calls whose code could not be read (each one a failure)."""
    sources = _sources(root, folders)
    writers = writers_of(sources)
    found: dict[str, set[str]] = {r: set() for r in ROLES}
    unread = []
    for w in writers.values():
        for role, values in w.defaults.items():
            found[role] |= values
    for src in sources:
        for call, qual, fn, method, cls in _walk_calls(src):
            callee = _callee(call, src, cls, writers)
            if callee is None:
                continue
            names = _params(fn, method)
            mine = writers.get(qual)
            for role in ROLES:
                where = callee.params.get(role)
                arg = _argument(call, where) if where else None
                if arg is None:
                    found[role] |= callee.defaults.get(role, set())
                    continue
                if isinstance(arg, ast.Name) and arg.id in names and mine and role in mine.params:
                    continue  # handed on: its callers' literals are collected instead
                values = _literals(arg, src)
                if values is None:
                    unread.append(f"{src.module}:{call.lineno} {role}={ast.unparse(arg)}")
                else:
                    found[role] |= values
    return found, unread


def _unlabelled(found: dict[str, set[str]]) -> list[str]:
    missing = []
    for loc in locales.available():
        cat = locales.catalog(loc)
        missing += [f"{loc}: {prefix}{code}" for role, codes in found.items() for prefix in PREFIXES[role]
                    for code in sorted(codes) if prefix + code not in cat]
    return missing


def test_every_audit_code_has_a_label_in_every_language():
    found, unread = codes_written()
    assert not unread, f"audit codes this test cannot read (write them as literals): {unread}"
    # the collector really reaches the indirect writers, not only entry("…") literals
    assert {"link_attempt", "privacy_access", "fhir_push", "import", "declaration.submit"} <= found["action"]
    assert {"ok", "wrong_year", "no_links", "unknown_code", "none"} <= found["outcome"]
    assert {"account", "staff", "cli", "system"} == found["actor_kind"]
    assert not _unlabelled(found), _unlabelled(found)


def test_a_new_code_is_caught(tmp_path):
    """The check above can fail: a new action, a new outcome through a helper, and a code
    built at run time are each reported."""
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "audit.py").write_text(
        "def entry(action, *, actor_kind, actor_id, outcome='ok'):\n    pass\n", "utf-8")
    (tmp_path / "storage" / "thing.py").write_text(
        "from storage.audit import entry\n"
        "def tried(s, why):\n    s.add(entry('link', actor_kind='robot', actor_id=1, outcome=why))\n"
        "def go(s, kind):\n"
        "    s.add(entry('new_thing', actor_kind='staff', actor_id=1))\n"
        "    tried(s, 'new_outcome')\n"
        "    s.add(entry('web_' + kind, actor_kind='staff', actor_id=1))\n", "utf-8")
    found, unread = codes_written(tmp_path, ("storage",))
    assert found == {"action": {"link", "new_thing"}, "outcome": {"ok", "new_outcome"},
                     "actor_kind": {"robot", "staff"}}
    assert unread == ["storage.thing:7 action='web_' + kind"]
    assert set(_unlabelled(found)) >= {f"{loc}: {key}" for loc in locales.available() for key in (
        "privacy.action.new_thing", "privacy.outcome.new_outcome", "privacy.kind.robot", "privacy.actor.robot")}


def _builds_a_row(node: ast.AST) -> bool:
    """AuditEntry(…), insert(AuditEntry), or SQL inserting into audit_log."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "insert into audit_log" in node.value.lower()
    if not isinstance(node, ast.Call):
        return False
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
    return name == "AuditEntry" or (name == "insert" and any(getattr(a, "id", None) == "AuditEntry"
                                                             for a in node.args))


def test_audit_rows_are_built_only_by_entry():
    """The collector reads entry() calls: a row built another way would escape it."""
    wrong = [f"{src.module}:{node.lineno}" for src in _sources(ROOT) if src.module != "storage.audit"
             for node in ast.walk(src.tree) if _builds_a_row(node)]
    assert not wrong, wrong
    for sneaky in ("s.execute(insert(AuditEntry).values(action='x'))", "s.add(AuditEntry(action='x'))",
                   "c.execute('INSERT INTO audit_log (action) VALUES ($1)', 'x')"):
        assert any(_builds_a_row(n) for n in ast.walk(ast.parse(sneaky))), sneaky
