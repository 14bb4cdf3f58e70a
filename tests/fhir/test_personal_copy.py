"""/dulieucuatoi also gives the resident their record as FHIR JSON and a one-page PDF
health-book summary, through the real Application and the Bot API stand-in."""

import json

import pypdfium2 as pdfium

from tests.fhir.check import validate
from tests.test_privacy import A, declare, documents, link, resident


async def test_my_data_includes_a_fhir_record_and_a_one_page_summary(chat_factory, sessions):
    lan = await resident(sessions, phone="+84912345678", insurance_code="DN4797915410033")
    chat = chat_factory(A)
    await link(chat, lan)
    long_allergy = "Penicillin, " * 40  # longer than its line: cut, never a second page
    await declare(sessions, lan.id, A, weight=52.5, allergies="Penicillin")
    await declare(sessions, lan.id, A, weight=53.0, height=155, allergies=long_allergy, smoking="no",
                  conditions=["htn"], covid_doses=2)

    await chat.command("dulieucuatoi")
    docs = documents(chat)
    name = f"du-lieu-ca-nhan-{lan.id}"
    assert "fhir" not in json.loads(docs[name + ".json"])  # the FHIR record is its own file

    bundle = json.loads(docs[name + ".fhir.json"])
    validate(bundle)
    assert bundle["type"] == "collection"
    resources = [e["resource"] for e in bundle["entry"]]
    for r in resources:
        validate(r)
    base = {e["fullUrl"].rsplit("/", 2)[0] for e in bundle["entry"]}
    assert len(base) == 1
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    from storage.fhir.resources import references  # noqa: PLC0415

    assert set(references(resources)) <= known
    [patient] = [r for r in resources if r["resourceType"] == "Patient"]
    assert patient["name"][0]["text"] == "Nguyễn Thị Lan"
    assert len([r for r in resources if r["resourceType"] == "QuestionnaireResponse"]) == 2
    weights = sorted(r["valueQuantity"]["value"] for r in resources
                     if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "29463-7")
    assert weights == [52.5, 53.0]
    [condition] = [r for r in resources if r["resourceType"] == "Condition"]
    assert condition["code"]["coding"][0]["code"] == "I10"

    doc = pdfium.PdfDocument(docs[name + ".pdf"])
    assert len(doc) == 1
    text = doc[0].get_textpage().get_text_range()
    assert "Nguyễn Thị Lan" in text and "SỔ SỨC KHỎE" in text
    assert "53" in text and "Tăng huyết áp" in text
    assert "…" in text  # the long allergy list was cut to its line
