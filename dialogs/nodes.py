"""Every node name of the dialog graph, declared once.

Flows name nodes only through these constants (`@node`, `ctx.go`, `state["node"]`,
`HINTS`); `@node` refuses a name not declared here, and tests/unit/test_layering.py
refuses a string literal in those places. The values are plain strings on purpose: they are
what dialog states saved in Redis hold, so they must not change, and a state reads the same
before and after a trip through JSON. Many of them are also message ids in locales/
(the node "link.code" says "link.code"); the two are independent.
"""

from __future__ import annotations

from typing import Final

# Every fixed node name. Question nodes are named from questionnaire keys (`question`);
# tests/unit/test_nodes.py checks they and these are exactly the registered nodes.
NAMES: set[str] = set()


def _declare(name: str) -> str:
    NAMES.add(name)
    return name


HOME: Final = _declare("home")  # where a person rests between flows

LINK_CODE: Final = _declare("link.code")
LINK_YEAR: Final = _declare("link.year")
LINK_RELATION: Final = _declare("link.relation")
LINK_CONSENT: Final = _declare("link.consent")
LINK_NEXT: Final = _declare("link.next")

DECLARE_BEGIN: Final = _declare("declare.begin")
DECLARE_CHOOSE: Final = _declare("declare.choose")
DECLARE_RESUME: Final = _declare("declare.resume")
DECLARE_REVIEW: Final = _declare("declare.review")
DECLARE_EDIT: Final = _declare("declare.edit")

FAMILY_LIST: Final = _declare("family.list")
FAMILY_UNLINK_PICK: Final = _declare("family.unlink_pick")
FAMILY_UNLINK_CONFIRM: Final = _declare("family.unlink_confirm")

OWNER_PICK: Final = _declare("owner.pick")
OWNER_LIST: Final = _declare("owner.list")
OWNER_CONFIRM: Final = _declare("owner.confirm")

RIGHTS_MENU: Final = _declare("rights.menu")
RIGHTS_PICK: Final = _declare("rights.pick")
RIGHTS_WITHDRAW: Final = _declare("rights.withdraw")
RIGHTS_ERASE: Final = _declare("rights.erase")

NHACNHO_WARD: Final = _declare("nhacnho.ward")
NHACNHO_AUDIENCE: Final = _declare("nhacnho.audience")
NHACNHO_DAYS: Final = _declare("nhacnho.days")
NHACNHO_QUARTER: Final = _declare("nhacnho.quarter")
NHACNHO_MESSAGE: Final = _declare("nhacnho.message")
NHACNHO_PREVIEW: Final = _declare("nhacnho.preview")
NHACNHO_WHEN: Final = _declare("nhacnho.when")

# One node per questionnaire question (dialogs/asking.py registers them from QUESTIONS).
_QUESTION: Final = "declare.q."
_DECLARE: Final = "declare."  # the declaration flow: the nodes above and the questions


def question(key: str) -> str:
    """The node asking the question `key` ("declare.q.weight")."""
    return _QUESTION + key


def is_question(name: str) -> bool:
    return name.startswith(_QUESTION) and len(name) > len(_QUESTION)


def declared(name: str) -> bool:
    return name in NAMES or is_question(name)


def in_declaration(name: str | None) -> bool:
    """Whether the node belongs to the declaration flow (its questions included)."""
    return isinstance(name, str) and name.startswith(_DECLARE)
