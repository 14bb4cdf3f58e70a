"""The ward's FHIR export from the console: a zip of Bulk Data NDJSON, ward-checked, audited."""

from __future__ import annotations

import io
import json
import os
import zipfile

from sqlalchemy import select

from storage.models import AuditEntry
from tests.staffdata import OTHER_WARD, WARD
from tests.web.conftest import ADMIN_ID, STAFF_ID, sign_in


async def test_the_wards_records_as_bulk_data_ndjson(town, chat_factory, client):
    _, family = await town.family(2)
    await town.declare(family[0], weight_kg=52, height_cm=155, answers={"weight": 52, "height": 155})
    theirs = await town.resident(ward=OTHER_WARD)
    await sign_in(client, chat_factory, STAFF_ID)
    r = await client.get("/export.fhir.zip")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")  # a streamed response too
    z = zipfile.ZipFile(io.BytesIO(await r.read()))
    manifest = json.loads(z.read("manifest.json"))
    files = {o["type"]: o for o in manifest["output"]}
    assert files["Patient"] == {"type": "Patient", "url": "Patient.ndjson", "count": 2}
    assert files["Observation"]["count"] >= 2 and all(o["count"] > 0 for o in manifest["output"])
    assert set(z.namelist()) == {"manifest.json", "Questionnaire.json", *(o["url"] for o in manifest["output"])}
    for o in manifest["output"]:
        lines = z.read(o["url"]).decode().splitlines()
        assert len(lines) == o["count"]
        assert {json.loads(line)["resourceType"] for line in lines} == {o["type"]}
    assert json.loads(z.read("Questionnaire.json"))["resourceType"] == "Questionnaire"
    async with town.sessions() as s:
        (e,) = (await s.execute(select(AuditEntry).where(AuditEntry.action == "staff_export"))).scalars()
    assert (e.actor_id, e.details["format"], e.details["ward"]) == (f"telegram:{STAFF_ID}", "fhir-ndjson", WARD)
    assert sorted(e.details["resident_ids"]) == sorted(family) and theirs not in e.details["resident_ids"]


async def test_another_ward_is_refused(town, chat_factory, client):
    await town.resident(ward=OTHER_WARD)
    await sign_in(client, chat_factory, STAFF_ID)
    assert (await client.get("/export.fhir.zip", params={"ward": OTHER_WARD})).status == 403


async def test_an_admin_chooses_the_ward(town, chat_factory, client):
    await town.resident(ward=OTHER_WARD)
    await sign_in(client, chat_factory, ADMIN_ID)
    assert (await client.get("/export.fhir.zip")).status == 400  # every ward at once: not from here
    r = await client.get("/export.fhir.zip", params={"ward": OTHER_WARD})
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(await r.read())).read("manifest.json"))
    assert {o["type"]: o["count"] for o in manifest["output"]}["Patient"] == 1


async def test_signed_out_gets_nothing(town, client):
    assert (await client.get("/export.fhir.zip", params={"ward": WARD})).status == 401


def test_the_zip_is_made_a_piece_at_a_time(tmp_path):
    from web.fhir_download import CHUNK, zipped  # noqa: PLC0415

    big = tmp_path / "Observation.ndjson"
    big.write_bytes(os.urandom(3 * CHUNK))  # does not compress: every piece carries its bytes
    small = tmp_path / "Patient.ndjson"
    small.write_bytes(b'{"resourceType": "Patient"}\n')
    pieces = list(zipped([("Observation.ndjson", big), ("Patient.ndjson", small)]))
    assert sum(1 for p in pieces if len(p) > CHUNK // 2) >= 3 and max(map(len, pieces)) < 2 * CHUNK
    z = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert z.testzip() is None
    assert z.read("Observation.ndjson") == big.read_bytes() and z.read("Patient.ndjson") == small.read_bytes()
