"""The Questionnaire, generated from dialogs/questionnaire.py, and where each answer goes.

FIELDS names, for every question of QUESTIONS, its Questionnaire item type and either the
resource element its answer becomes, or why it stays in the QuestionnaireResponse only.
tests/fhir/test_mapping.py fails when a question has no entry, so a new question cannot be
forgotten. Every answer is also in the QuestionnaireResponse of its declaration version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from dialogs import questionnaire as qn
from locales import t
from storage.fhir.codes import ANSWERS, QUESTIONNAIRE_URL, SID_RESOURCE, coding


@dataclass(frozen=True)
class Field:
    item: str  # Questionnaire item type
    goes_to: str = ""  # resource element(s) the answer becomes
    only_in_response: str = ""  # why the answer maps to nothing else


FIELDS: dict[str, Field] = {
    "identity": Field("choice", only_in_response="confirms the registry's details; corrections are the next answers"),
    "full_name": Field("string", "Patient.name"),
    "birth_date": Field("date", "Patient.birthDate"),
    "sex": Field("choice", "Patient.gender"),
    "phone": Field("string", "Patient.telecom"),
    "address": Field("open-choice", "Patient.address"),
    "occupation": Field("open-choice", only_in_response="local occupation groups, no published code set"),
    "ethnicity": Field("open-choice", only_in_response="FHIR R4 has no ethnicity element; VN Core's extension is a draft"),
    "blood_group": Field("open-choice", "Observation 883-9 (SNOMED CT ABO group)"),
    "insurance": Field("open-choice", "Patient.identifier (BHYT)"),
    "height": Field("decimal", "Observation 8302-2 (cm)"),
    "weight": Field("decimal", "Observation 29463-7 (kg); with height, Observation 39156-5 BMI (kg/m2)"),
    "blood_pressure": Field("open-choice", "Observation 85354-9 with 8480-6 / 8462-4 (mm[Hg])"),
    "smoking": Field("choice", "Observation 72166-2 (SNOMED CT smoking status)"),
    "conditions": Field("choice", "Condition (ICD-10, SNOMED CT)"),
    "allergies": Field("open-choice", "AllergyIntolerance (code.text; SNOMED CT 716186003 for none)"),
    "pregnancies": Field("integer", "Observation 11996-6 ({#})"),
    "children": Field("integer", "Observation 11638-4 ({#})"),
    "covid_doses": Field("integer", "Immunization CVX 213, one per dose (not-done for 0)"),
    "epi_complete": Field("choice", only_in_response="one answer about the whole EPI schedule names no vaccine or dose"),
    "flu_shot": Field("choice", "Immunization CVX 88 (completed / not-done)"),
}


def unmapped(questions: tuple[qn.Question, ...] = qn.QUESTIONS) -> list[str]:
    """Questions with no entry in FIELDS, or an entry that neither maps nor says why not."""
    return [q.key for q in questions
            if q.key not in FIELDS or not (FIELDS[q.key].goes_to or FIELDS[q.key].only_in_response)]


# ask_if conditions that depend on earlier answers only, as enableWhen. The others (age,
# sex, what the registry holds) depend on the person, which a Questionnaire cannot see.
ENABLE_WHEN = {qn._fixing: [("identity", "fix")]}

_DECORATION = re.compile(r"^[^\w]+", re.UNICODE)


def display(locale: str, msg_id: str) -> str:
    """A button label without its emoji ("✏️ Sửa" -> "Sửa")."""
    return _DECORATION.sub("", t(locale, msg_id)).strip()


def _options(q: qn.Question, field: Field, locale: str) -> list[dict]:
    out = []
    for c in q.choices:
        if c.value == qn.FROM_REGISTRY:  # "what the registry says": the answer is then the text
            continue
        if field.item == "integer":
            out.append({"valueInteger": c.value})
        else:
            out.append({"valueCoding": coding(ANSWERS + q.key, str(c.value), display(locale, c.label))})
    if q.multi:
        none = qn.NO_CONDITIONS
        out.append({"valueCoding": coding(ANSWERS + q.key, "none", display(locale, none.label))})
    return out


def _item(q: qn.Question, locale: str) -> dict:
    field = FIELDS[q.key]
    item: dict[str, Any] = {"linkId": q.key, "text": t(locale, f"label.{q.key}"), "type": field.item}
    conditional = q.ask_if is not qn.always
    item["required"] = not q.optional and not conditional
    if q.multi:
        item["repeats"] = True
    opts = _options(q, field, locale)
    if opts:
        item["answerOption"] = opts
    when = ENABLE_WHEN.get(q.ask_if)
    if when:
        item["enableWhen"] = [
            {"question": key, "operator": "=",
             "answerCoding": coding(ANSWERS + key, value, display(locale, qn.label_of(qn.BY_KEY[key], value)))}
            for key, value in when
        ]
    return item


@cache
def questionnaire(locale: str = "vi") -> dict:
    rid = "hb-questionnaire-" + qn.VERSION.replace(".", "-")
    return {
        "resourceType": "Questionnaire",
        "id": rid,
        "url": QUESTIONNAIRE_URL,
        "identifier": [{"system": SID_RESOURCE, "value": rid}],
        "version": qn.VERSION,
        "name": "HealthDeclaration",
        "title": t(locale, "fhir.questionnaire_title"),
        "status": "active",
        "language": locale,
        "subjectType": ["Patient"],
        "item": [_item(q, locale) for q in qn.QUESTIONS],
    }


# ---------------------------------------------------------------- answers


@cache
def _choice_codings(locale: str) -> dict[tuple[str, str], dict]:
    out = {}
    for q in qn.QUESTIONS:
        for opt in _options(q, FIELDS[q.key], locale):
            if "valueCoding" in opt:
                out[(q.key, opt["valueCoding"]["code"])] = opt["valueCoding"]
    return out


def answer(key: str, value: Any, locale: str = "vi") -> list[dict]:
    """One question's stored answer as QuestionnaireResponse answers."""
    item = FIELDS[key].item
    codings = _choice_codings(locale)
    if key == "conditions":
        values = value or ["none"]
        return [{"valueCoding": codings[(key, v)]} for v in values if (key, v) in codings]
    if key == "blood_pressure" and isinstance(value, list | tuple):
        return [{"valueString": f"{value[0]}/{value[1]}"}]
    if item in ("choice", "open-choice"):
        found = codings.get((key, str(value)))
        if found is not None:
            return [{"valueCoding": found}]
        return [{"valueString": str(value)}]
    if item == "integer":
        return [{"valueInteger": int(value)}]
    if item == "decimal":
        return [{"valueDecimal": float(value)}]
    if item == "date":
        return [{"valueDate": str(value)}]
    return [{"valueString": str(value)}]


@cache
def _labels(locale: str) -> tuple[tuple[str, str], ...]:
    return tuple((q.key, t(locale, f"label.{q.key}")) for q in qn.QUESTIONS)


@cache
def _shared(locale: str) -> dict:
    return {}


def response_items(answers: dict[str, Any], locale: str = "vi") -> list[dict]:
    """Items in questionnaire order; skipped (None) answers are left out. The item of a coded
    or numeric answer is made once and shared (never changed afterwards): most answers of a
    ward are the same few choices, so this is most of the export's work saved."""
    out = []
    shared, codings = _shared(locale), _choice_codings(locale)
    for key, text in _labels(locale):
        value = answers.get(key)
        if value is None:
            continue
        hashable = tuple(value) if isinstance(value, list) else value
        item = shared.get((key, hashable))
        if item is None:
            given = answer(key, value, locale)
            if not given:
                continue
            item = {"linkId": key, "text": text, "answer": given}
            kind = FIELDS[key].item
            if kind in ("choice", "integer", "decimal") or (key, str(value)) in codings:
                shared[(key, hashable)] = item
        out.append(item)
    if len(answers) > len(out):  # an answer to a question since removed is kept, as text
        for key in answers.keys() - FIELDS.keys():
            if answers[key] is not None:
                text = value if isinstance(value := answers[key], str) else json.dumps(value, ensure_ascii=False)
                out.append({"linkId": key, "answer": [{"valueString": text}]})
    return out
