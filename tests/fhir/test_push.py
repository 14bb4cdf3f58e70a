"""`healthbot fhir push` against the in-test FHIR server (tests/fhir/standin.py): a second
push changes nothing, busy answers are retried, an interrupted push resumes."""

import asyncio

import pytest
from sqlalchemy import select

from locales import t
from storage.fhir.export import export
from storage.fhir.push import Checkpoint, PushError, Retry, push
from storage.models import AuditEntry, Resident
from tests.fhir.check import read_ndjson, validate
from tests.fhir.conftest import cli
from tests.fhir.seed import WARD, seed_ward

FAST = Retry(attempts=4, base=0.0)


async def exported_counts(sessions, tmp_path) -> dict[str, int]:
    await export(sessions, WARD, tmp_path / "reference", "ndjson")
    counts = {k: len(v) for k, v in read_ndjson(tmp_path / "reference").items() if v}
    return counts | {"Questionnaire": 1}


def stored_counts(server) -> dict[str, int]:
    return {k: len(v) for k, v in server.store.items() if v}


async def test_pushing_twice_creates_each_resource_once(rt, sessions, fhir_server, tmp_path, capsys):
    seeded = await seed_ward(sessions, 15)
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url) == 0
    assert stored_counts(fhir_server) == await exported_counts(sessions, tmp_path)
    for by_id in fhir_server.store.values():
        for s in by_id.values():
            validate(s.resource)
    patients = fhir_server.resources("Patient")
    assert len(patients) == seeded["residents"]
    org = fhir_server.resources("Organization")[0]["id"]
    assert {p["managingOrganization"]["reference"] for p in patients} == {f"Organization/{org}"}
    first = fhir_server.versions()
    assert "15" in capsys.readouterr().out

    assert await cli(rt, "fhir", "push", "--url", fhir_server.url) == 0
    assert fhir_server.versions() == first  # nothing created, nothing changed
    out = capsys.readouterr().out
    assert "; 0 " in out  # "… 0 tài nguyên mới"


async def test_a_new_declaration_updates_only_what_changed(rt, sessions, fhir_server, tmp_path):
    await seed_ward(sessions, 4)
    cp = Checkpoint(tmp_path, fhir_server.url, WARD)
    await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST)
    before = fhir_server.versions()
    from tests.staffdata import Town  # noqa: PLC0415

    rid = int(fhir_server.resources("Patient")[0]["identifier"][0]["value"].removeprefix("hb-"))
    await Town(sessions).declare(rid, answers={"identity": "ok", "height": 160, "weight": 55},
                                 height_cm=160, weight_kg=55, bmi=21.5)
    done = await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST)
    after = fhir_server.versions()
    new = set(after) - set(before)
    assert done.created == len(new) > 0
    changed = {k for k in before if after[k] != before[k]}
    assert all(k.startswith("Patient/") for k in changed)  # the patient's latest answers only
    assert {k: v for k, v in after.items() if k in before and k not in changed} == \
        {k: v for k, v in before.items() if k not in changed}


async def test_bundles_in_flight_together_give_the_same_server_state(rt, sessions, fhir_server, tmp_path):
    """Eight Bundles in flight; the server down after some of them: the checkpoint never
    passes a resident the server did not confirm, and the resumed push completes the ward."""
    await seed_ward(sessions, 30)
    cp = Checkpoint(tmp_path, fhir_server.url, WARD)
    fhir_server.fail_after = 12
    with pytest.raises(PushError):
        await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST, concurrency=8)
    on_server = {p["identifier"][0]["value"] for p in fhir_server.resources("Patient")}
    async with sessions() as s:
        ids = list((await s.execute(select(Resident.id).order_by(Resident.id))).scalars())
    upto = ids.index(cp.load()) + 1
    assert 0 < upto < 30
    assert {f"hb-{rid}" for rid in ids[:upto]} <= on_server  # every resident up to the checkpoint is there
    fhir_server.fail_after = None
    await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST, concurrency=8)
    assert stored_counts(fhir_server) == await exported_counts(sessions, tmp_path)
    first = fhir_server.versions()
    done = await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST, concurrency=8)
    assert done.residents == 30 and done.created == 0 and fhir_server.versions() == first


async def test_busy_answers_are_retried_with_backoff(rt, sessions, fhir_server, tmp_path):
    await seed_ward(sessions, 3)
    fhir_server.faults = [(429, {"Retry-After": "0"}), (503, {}), (502, {})]
    done = await push(sessions, fhir_server.url, None, WARD, Checkpoint(tmp_path, fhir_server.url, WARD), retry=FAST)
    assert done.residents == 3
    assert fhir_server.requests == fhir_server.transactions + 3
    assert stored_counts(fhir_server) == await exported_counts(sessions, tmp_path)


async def test_the_terminal_says_when_it_waits_for_a_busy_server(rt, sessions, fhir_server, capsys):
    await seed_ward(sessions, 2)
    fhir_server.faults = [(429, {"Retry-After": "0"})]
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [t("vi", "fhir.cli.retrying", why="429", seconds="0")]
    assert len(fhir_server.resources("Patient")) == 2


async def test_an_interrupted_push_resumes_where_it_stopped(rt, sessions, fhir_server, tmp_path):
    await seed_ward(sessions, 12)
    cp = Checkpoint(tmp_path, fhir_server.url, WARD)
    fhir_server.fail_after = 5  # the questionnaire and four residents, then down
    with pytest.raises(PushError) as e:
        await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST, concurrency=1)
    assert e.value.status == 503
    stopped_at = cp.load()
    assert stopped_at > 0 and len(fhir_server.resources("Patient")) == 4

    fhir_server.fail_after = None
    accepted = fhir_server.transactions
    done = await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST)
    assert done.resumed_after == stopped_at
    assert done.residents == 8 and fhir_server.transactions - accepted == 1 + 8  # questionnaire + the rest
    assert stored_counts(fhir_server) == await exported_counts(sessions, tmp_path)
    assert not cp.path.exists()  # complete: the next push starts from the beginning


async def test_refusals_and_bad_input_are_one_line(rt, sessions, fhir_server, capsys):
    await seed_ward(sessions, 2)
    fhir_server.token = "s3cret"
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "401" in err[0] and "s3cret" not in err[0]
    assert fhir_server.count() == 0
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, "--token", "s3cret") == 0
    assert len(fhir_server.resources("Patient")) == 2
    capsys.readouterr()
    assert await cli(rt, "fhir", "push", "--url", "ftp://x") == 2
    assert await cli(rt, "fhir", "push", "--url", "http://") == 2
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, "--concurrency", "0") == 2
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, "--ward", "Phường 99") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 4


async def test_a_push_cancelled_mid_way_resumes(rt, sessions, fhir_server, tmp_path):
    """Ctrl-C in the middle: what the server confirmed is in the checkpoint, the rest follows."""
    await seed_ward(sessions, 10)
    cp = Checkpoint(tmp_path, fhir_server.url, WARD)
    task = asyncio.create_task(push(sessions, fhir_server.url, None, WARD, cp, retry=FAST))
    await fhir_server.reached(4).wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped_at = cp.load()
    assert stopped_at > 0
    done = await push(sessions, fhir_server.url, None, WARD, cp, retry=FAST)
    assert done.resumed_after == stopped_at and 0 < done.residents < 10
    assert stored_counts(fhir_server) == await exported_counts(sessions, tmp_path)


async def test_a_refused_push_says_so_and_audits_what_was_sent(rt, sessions, fhir_server, capsys):
    await seed_ward(sessions, 6)
    fhir_server.fail_after, fhir_server.fail_status = 3, 422  # the questionnaire and two residents
    one_at_a_time = ("--concurrency", "1")
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, *one_at_a_time) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "422" in err[0] and "down for maintenance" in err[0]
    [entry] = await audit(sessions, "fhir_push")
    assert len(entry.details["resident_ids"]) == 2

    fhir_server.fail_after = None
    fhir_server.faults = [(200, {})]  # a proxy's page instead of a transaction-response
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, *one_at_a_time) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == t("vi", "fhir.cli.resuming")  # the first run had stopped after two
    assert len(err) == 2 and "transaction-response" in err[1]
    assert await cli(rt, "fhir", "push", "--url", fhir_server.url, *one_at_a_time) == 0
    entries = await audit(sessions, "fhir_push")
    assert sorted(len(e.details["resident_ids"]) for e in entries) == [2, 4]  # resumed after the first two


async def audit(sessions, action):
    async with sessions() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.execute(q)).scalars())
