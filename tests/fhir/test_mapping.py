"""The FHIR mapping follows the questionnaire: every question is mapped or excluded with a
reason, the Questionnaire is generated from QUESTIONS, and answers of every shape become
valid QuestionnaireResponse items. No database needed."""

from dataclasses import replace
from datetime import UTC, date, datetime
from types import SimpleNamespace

from dialogs import questionnaire as qn
from storage.fhir.codes import ANSWERS, LOINC
from storage.fhir.questionnaire import FIELDS, questionnaire, response_items, unmapped
from storage.fhir.resources import Builder
from tests.fhir.check import observation_problems, unresolved, validate
from tests.fhir.seed import answers_for


def test_every_question_is_mapped_or_excluded_with_a_reason():
    assert unmapped() == []
    assert set(FIELDS) == {q.key for q in qn.QUESTIONS}, "FIELDS names a question that no longer exists"
    for key, field in FIELDS.items():
        assert bool(field.goes_to) != bool(field.only_in_response), key


def test_a_new_question_is_caught_until_it_is_mapped():
    added = (*qn.QUESTIONS, qn.Question("sleep_hours", parse=int))
    assert unmapped(added) == ["sleep_hours"]
    assert unmapped((*qn.QUESTIONS, replace(qn.BY_KEY["height"], key="waist"))) == ["waist"]


def test_questionnaire_is_generated_from_the_questions():
    q = questionnaire("vi")
    validate(q)
    items = {i["linkId"]: i for i in q["item"]}
    assert [i["linkId"] for i in q["item"]] == [x.key for x in qn.QUESTIONS]
    for question in qn.QUESTIONS:
        offered = [o.get("valueCoding", {}).get("code", o.get("valueInteger")) for o in
                   items[question.key].get("answerOption", [])]
        expected = [c.value if isinstance(c.value, int) else str(c.value)
                    for c in question.choices if c.value != qn.FROM_REGISTRY]
        assert offered[:len(expected)] == expected, question.key
        assert items[question.key]["type"] == FIELDS[question.key].item
    # asked only when the person said the registry's details were wrong
    for key in ("full_name", "birth_date"):
        [when] = items[key]["enableWhen"]
        assert when["question"] == "identity" and when["answerCoding"]["code"] == "fix"
    assert items["conditions"]["repeats"] is True
    assert items["height"]["required"] is True and items["pregnancies"]["required"] is False
    assert items["sex"]["answerOption"][0]["valueCoding"]["display"] == "Nam"


def test_every_answer_shape_becomes_a_valid_response_item():
    q = questionnaire("vi")
    options = {i["linkId"]: i.get("answerOption", []) for i in q["item"]}
    for i, age in enumerate((3, 20, 40, 70)):
        for sex in ("F", "M"):
            a = answers_for(i, sex, age, "12 Nguyễn Trãi")
            items = response_items(a)
            assert {x["linkId"] for x in items} == {k for k, v in a.items() if v is not None}
            for item in items:
                for ans in item["answer"]:
                    if "valueCoding" in ans:
                        assert ans["valueCoding"]["system"] == ANSWERS + item["linkId"]
                        assert {"valueCoding": ans["valueCoding"]} in options[item["linkId"]], item
    conditions = dict((x["linkId"], x) for x in response_items({"conditions": []}))["conditions"]
    assert conditions["answer"][0]["valueCoding"]["code"] == "none"  # "Không có" is an answer too


def _resident(**kw):
    base = dict(id=7, code="AB12CD", full_name="Lê Thị Cúc", birth_date=None, birth_year=1951, sex="F",
                ward="Phường 27", quarter="Khu phố 2", group_name="Tổ 4", address="5 Lê Lợi", phone=None,
                insurance_code=None, citizen_id="079151000007")
    base.update(kw)
    return SimpleNamespace(**base)


def _declaration(answers, version=1, relation="self", **kw):
    cols = qn.typed_columns(answers)
    base = dict(version=version, submitted_by="zalo:8837", relation=relation, questionnaire_version=qn.VERSION,
                submitted_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC), height_cm=cols.get("height_cm"),
                weight_kg=cols.get("weight_kg"), bmi=cols.get("bmi"), systolic=cols.get("systolic"),
                diastolic=cols.get("diastolic"), pregnancies=cols.get("pregnancies"), children=cols.get("children"),
                covid_doses=cols.get("covid_doses"), answers=answers)
    base.update(kw)
    return SimpleNamespace(**base)


def test_one_resident_maps_to_valid_resources_with_codes():
    a = answers_for(3, "F", 70, "5 Lê Lợi") | {"identity": "fix", "full_name": "Lê Thị Cúc Hoa",
                                               "birth_date": "1951-04-03", "sex": "F"}
    out = list(Builder().resident(_resident(), [_declaration(a, relation="child")]))
    for r in out:
        validate(r)
    assert unresolved(out) == []
    by_id = {r["id"]: r for r in out}
    patient = by_id["hb-7"]
    assert patient["name"][0] == {"use": "official", "text": "Lê Thị Cúc Hoa", "family": "Lê", "given": ["Thị", "Cúc", "Hoa"]}
    assert patient["birthDate"] == "1951-04-03"
    assert patient["address"][0]["line"] == ["5 Lê Lợi", "Tổ 4", "Khu phố 2"]
    assert {"system": "http://fhir.hl7.org.vn/core/sid/cccd", "value": "079151000007"} in patient["identifier"]
    [rp] = [r for r in out if r["resourceType"] == "RelatedPerson"]
    assert rp["relationship"][0]["coding"][0]["code"] == "PRN"  # the resident is the declarer's child
    observations = [r for r in out if r["resourceType"] == "Observation"]
    assert not [p for o in observations for p in observation_problems(o)]
    codes = {o["code"]["coding"][0]["code"] for o in observations}
    assert {"8302-2", "29463-7", "39156-5", "72166-2", "11996-6", "11638-4"} <= codes
    for o in observations:
        assert o["effectiveDateTime"] == "2026-11-02T08:00:00+00:00"
        assert o["performer"] == [{"reference": "RelatedPerson/" + rp["id"]}]
        assert o["code"]["coding"][0]["system"] == LOINC
    conditions = [r for r in out if r["resourceType"] == "Condition"]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["I10", "E14"]
    shots = [r for r in out if r["resourceType"] == "Immunization"]
    assert all(s["primarySource"] is False for s in shots)
    assert [s["vaccineCode"]["coding"][0]["code"] for s in shots] == ["213"] * 3 + ["88"]


def test_declared_by_themselves_the_patient_is_the_performer_and_birth_year_alone_is_a_date():
    a = {"identity": "ok", "height": 170, "weight": 65, "blood_pressure": [150, 95], "covid_doses": 0,
         "conditions": [], "allergies": "none", "flu_shot": "unknown"}
    out = list(Builder().resident(_resident(birth_date=None, sex=None, citizen_id=None), [_declaration(a)]))
    for r in out:
        validate(r)
    patient = next(r for r in out if r["resourceType"] == "Patient")
    assert patient["birthDate"] == "1951" and patient["gender"] == "unknown"
    bp = next(r for r in out if r["id"].endswith("-bp"))
    assert bp["performer"] == [{"reference": "Patient/hb-7"}]
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in bp["component"]] == \
        [("8480-6", 150), ("8462-4", 95)]
    [shot] = [r for r in out if r["resourceType"] == "Immunization"]
    assert shot["status"] == "not-done"
    [allergy] = [r for r in out if r["resourceType"] == "AllergyIntolerance"]
    assert allergy["code"]["coding"][0]["code"] == "716186003"
    assert not [r for r in out if r["resourceType"] in ("Condition", "RelatedPerson")]


def test_ids_are_stable_per_declaration_version():
    a = answers_for(1, "M", 40, "x street")
    first = list(Builder().resident(_resident(), [_declaration(a)]))
    again = list(Builder().resident(_resident(), [_declaration(a)]))
    assert first == again
    both = list(Builder().resident(_resident(), [_declaration(a), _declaration(a, version=2)]))
    ids = [r["id"] for r in both]
    assert len(ids) == len(set(ids))
    assert {r["id"] for r in first} <= set(ids)  # version 1's resources keep their ids


def test_birth_date_from_registry_when_not_corrected():
    out = list(Builder().resident(_resident(birth_date=date(1951, 2, 1)), []))
    assert [r["resourceType"] for r in out] == ["Organization", "Patient"]
    assert out[1]["birthDate"] == "1951-02-01"


def test_a_declaration_of_an_older_questionnaire_keeps_its_version_and_every_answer():
    a = {"identity": "ok", "height": 160, "sleep_hours": 7, "diet": "chay"}  # two questions since removed
    out = list(Builder().resident(_resident(), [_declaration(a, questionnaire_version="2019.3")]))
    [qr] = [r for r in out if r["resourceType"] == "QuestionnaireResponse"]
    validate(qr)
    assert qr["questionnaire"].endswith("|2019.3")
    answers = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    assert answers["sleep_hours"] == {"valueString": "7"} and answers["diet"] == {"valueString": "chay"}
    assert answers["height"] == {"valueDecimal": 160.0}
