"""Node names: declared once in dialogs/nodes.py, each with its node, as saved states hold them."""

import pytest

import dialogs.flows  # noqa: F401 - registers every node
from dialogs import nodes
from dialogs.core import HINTS, NODES, node
from dialogs.questionnaire import QUESTIONS

# What dialog states saved in Redis hold: changing one strands everyone resting there.
SAVED = {
    "home", "link.code", "link.year", "link.relation", "link.consent", "link.next",
    "declare.begin", "declare.choose", "declare.resume", "declare.review", "declare.edit",
    "family.list", "family.unlink_pick", "family.unlink_confirm",
    "owner.pick", "owner.list", "owner.confirm",
    "rights.menu", "rights.pick", "rights.withdraw", "rights.erase",
    "nhacnho.ward", "nhacnho.audience", "nhacnho.days", "nhacnho.quarter", "nhacnho.message",
    "nhacnho.preview", "nhacnho.when",
}


def test_every_declared_name_has_its_node_and_every_node_is_declared():
    questions = {nodes.question(q.key) for q in QUESTIONS}
    assert set(NODES) == nodes.NAMES | questions
    assert all(nodes.declared(name) for name in NODES)


def test_names_are_the_plain_strings_saved_states_hold():
    assert nodes.NAMES == SAVED and all(type(n) is str for n in nodes.NAMES)
    assert nodes.question("weight") == "declare.q.weight" and "declare.q.weight" in NODES


def test_hints_are_for_declared_nodes():
    assert set(HINTS) <= set(NODES)


@pytest.mark.parametrize("name", ["link.cod", "declare.q.", "Home", ""])
def test_a_node_not_declared_is_refused_at_registration(name):
    with pytest.raises(ValueError, match="not declared"):
        node(name)
    assert name not in NODES


def test_the_declaration_flow_includes_its_questions():
    assert nodes.in_declaration(nodes.question("weight")) and nodes.in_declaration(nodes.DECLARE_REVIEW)
    assert not nodes.in_declaration(nodes.HOME) and not nodes.in_declaration(None)
