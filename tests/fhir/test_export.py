"""`healthbot fhir export` and `healthbot export --format fhir|fhir-bundle` on a seeded ward
in a real PostgreSQL: every resource validates, references resolve, codes are there."""

import json

from sqlalchemy import event, select

from storage.fhir.codes import SID_RESOURCE, WITHDRAWN_TAG
from storage.fhir.resources import references
from storage.models import AuditEntry
from tests.fhir.check import observation_problems, read_ndjson, unresolved, validate
from tests.fhir.conftest import cli
from tests.fhir.seed import WARD, seed_ward

TYPES = {"Organization", "Patient", "RelatedPerson", "Observation", "Condition", "AllergyIntolerance",
         "Immunization", "QuestionnaireResponse"}


async def test_ndjson_export_of_a_ward_validates_completely(rt, sessions, tmp_path, capsys):
    seeded = await seed_ward(sessions, 30)
    await seed_ward(sessions, 3, ward="Phường 1")  # another ward stays out
    out = tmp_path / "fhir"
    assert await cli(rt, "fhir", "export", "--ward", "phuong 27", "--out", str(out)) == 0
    assert "30" in capsys.readouterr().out

    found = read_ndjson(out)
    assert set(found) == TYPES
    questionnaire = json.loads((out / "Questionnaire.json").read_text("utf-8"))
    everything = [r for rs in found.values() for r in rs]
    for r in [questionnaire, *everything]:
        validate(r)
    for kind, rs in found.items():
        assert all(r["resourceType"] == kind for r in rs)
    ids = [f"{r['resourceType']}/{r['id']}" for r in everything]
    assert len(ids) == len(set(ids))
    assert unresolved(everything) == []
    assert len(found["Patient"]) == seeded["residents"]
    assert {p["managingOrganization"]["reference"] for p in found["Patient"]} == \
        {f"Organization/{o['id']}" for o in found["Organization"]}
    assert len(found["QuestionnaireResponse"]) == seeded["declarations"]
    for qr in found["QuestionnaireResponse"]:
        assert qr["questionnaire"] == f"{questionnaire['url']}|{questionnaire['version']}"
    assert [p for o in found["Observation"] for p in observation_problems(o)] == []
    assert {o["code"]["coding"][0]["code"] for o in found["Observation"]} >= {
        "8302-2", "29463-7", "39156-5", "85354-9", "72166-2", "11996-6", "11638-4", "883-9"}
    for r in everything:  # the key of conditional updates on a server
        ident = r["identifier"] if isinstance(r["identifier"], list) else [r["identifier"]]
        assert {"system": SID_RESOURCE, "value": r["id"]} in ident
    # declared under a consent withdrawn since: marked, as in the CSV export
    tagged = {r["subject"]["reference"] for r in found["QuestionnaireResponse"] if r.get("meta", {}).get("tag") == [WITHDRAWN_TAG]}
    assert tagged == {f"Patient/hb-{seeded['withdrawn_resident']}"}

    async with sessions() as s:
        [entry] = (await s.execute(select(AuditEntry).where(AuditEntry.action == "staff_export"))).scalars()
    assert entry.details["format"] == "fhir-ndjson" and len(entry.details["resident_ids"]) == 30


async def test_a_second_export_is_identical(rt, sessions, tmp_path):
    await seed_ward(sessions, 12)
    for name in ("a", "b"):
        assert await cli(rt, "fhir", "export", "--ward", WARD, "--out", str(tmp_path / name)) == 0
    for f in (tmp_path / "a").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


async def test_export_command_formats_fhir_and_fhir_bundle(rt, sessions, tmp_path):
    seeded = await seed_ward(sessions, 10)
    assert await cli(rt, "export", "--ward", WARD, "--format", "fhir", "--out", str(tmp_path / "nd")) == 0
    assert await cli(rt, "fhir", "export", "--ward", WARD, "--out", str(tmp_path / "ref")) == 0
    assert read_ndjson(tmp_path / "nd") == read_ndjson(tmp_path / "ref")

    assert await cli(rt, "export", "--ward", WARD, "--format", "fhir-bundle", "--out", str(tmp_path / "b")) == 0
    bundles = [json.loads(x) for x in (tmp_path / "b" / "Bundle.ndjson").read_text("utf-8").splitlines()]
    assert len(bundles) == seeded["residents"]
    for b in bundles:
        validate(b)
        assert b["type"] == "transaction"
        urls = {e["fullUrl"] for e in b["entry"]}
        assert all(u.startswith("urn:uuid:") for u in urls)
        for e in b["entry"]:
            assert "id" not in e["resource"]
            kind = e["resource"]["resourceType"]
            assert e["request"]["method"] == "PUT" and e["request"]["url"].startswith(f"{kind}?identifier={SID_RESOURCE}|")
        assert set(references([e["resource"] for e in b["entry"]])) <= urls  # resolve inside the bundle
        kinds = [e["resource"]["resourceType"] for e in b["entry"]]
        assert kinds.count("Patient") == 1


async def test_bad_export_input_is_one_line(rt, sessions, tmp_path, capsys):
    await seed_ward(sessions, 2)
    assert await cli(rt, "fhir", "export", "--ward", "Phường 99", "--out", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Phường 99" in err[0] and WARD in err[0]
    assert await cli(rt, "fhir", "export", "--ward", WARD, "--format", "xml", "--out", str(tmp_path / "x")) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert await cli(rt, "fhir", "export", "--ward", WARD, "--out", str(blocker)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("healthbot: ")


async def test_pages_of_residents_give_the_same_export(rt, sessions, tmp_path, monkeypatch):
    """A ward is read a page of residents at a time; a page boundary splits nobody's record."""
    from storage.fhir import export as fhir_export  # noqa: PLC0415

    await seed_ward(sessions, 23)
    assert await cli(rt, "fhir", "export", "--ward", WARD, "--out", str(tmp_path / "one")) == 0
    monkeypatch.setattr(fhir_export, "PAGE", 4)
    pages_read = []

    def count(conn, cursor, statement, params, context, executemany):
        if "FROM residents" in statement and "LIMIT" in statement:
            pages_read.append(params)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await cli(rt, "fhir", "export", "--ward", WARD, "--out", str(tmp_path / "pages")) == 0
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", count)
    one, pages = read_ndjson(tmp_path / "one"), read_ndjson(tmp_path / "pages")
    assert pages == one
    assert len(pages_read) == 23 // 4 + 2  # never more than a page of residents at a time; the last is empty
    assert all(4 in p for p in pages_read)
    assert len({qr["id"] for qr in pages["QuestionnaireResponse"]}) == len(pages["QuestionnaireResponse"]) > 23
