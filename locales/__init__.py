"""Message catalogs: every user-visible string lives in locales/<lang>/*.toml.

Ids are dotted paths (`[link] ask_code = "…"` is `link.ask_code`); placeholders are
`{name}` fields filled by `t()`. Vietnamese is the default and the reference catalog.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
DEFAULT = "vi"


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@cache
def catalog(locale: str) -> dict[str, str]:
    folder = HERE / locale
    if not folder.is_dir():
        raise KeyError(f"unknown locale {locale!r}")
    merged: dict[str, str] = {}
    for f in sorted(folder.glob("*.toml")):
        for k, v in _flatten(tomllib.loads(f.read_text("utf-8"))).items():
            if k in merged:
                raise ValueError(f"message id {k} defined twice in {locale}")
            merged[k] = v
    return merged


@cache
def available() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in HERE.iterdir() if p.is_dir() and any(p.glob("*.toml"))))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class _Keep(dict):
    def __missing__(self, key: str) -> str:  # a missing variable shows as {key}, never crashes
        return "{" + key + "}"


def t(locale: str, msg_id: str, **vars) -> str:
    cat = catalog(locale if locale in available() else DEFAULT)
    text = cat.get(msg_id)
    if text is None:
        text = catalog(DEFAULT).get(msg_id)
    if text is None:  # not an id: data shown as it is (a person's name on a button)
        return msg_id
    return string.Formatter().vformat(text, (), _Keep(vars)) if vars or "{" in text else text
