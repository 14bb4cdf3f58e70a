"""Data rights (issue #7) through the real Application and the Bot API stand-in: see
everything stored, withdraw consent, ask for erasure; staff decide at the terminal."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, select, update

import locales
from bot.cli import build_parser
from bot.config import TIME_ZONE
from dialogs import codes
from dialogs.ports import Audience, Submission
from locales import audit_labels
from storage import export, privacy, stats
from storage.broadcasts import Queue, create
from storage.models import (
    Account,
    AuditEntry,
    Consent,
    Declaration,
    DeletionRequest,
    Link,
    Resident,
    Staff,
)
from tests.chat import addr
from tests.conftest import CODE_SECRET, ROOT
from tests.standin import serve
from tests.test_declare import LAN, LAN_SCRIPT, born, run
from tests.test_link import proof

WARD = "Phường 27"
A, B, C, STAFF = 7101, 7102, 7103, 7900  # mother's own account, a stranger, her son, ward staff


# ---------------------------------------------------------------- helpers


async def resident(sessions, **fields) -> Resident:
    spec = {**LAN, **fields}
    async with sessions.begin() as s:
        row = Resident(code=codes.new_code(), ward=WARD, birth_year=spec["birth_date"].year, **spec)
        s.add(row)
    return row


async def link(chat, r: Resident, relation: str = "Tôi") -> None:
    """Through the conversation: code, birth date, relation, consent."""
    await chat.command("start", r.code)
    await chat.send(proof(r))
    await chat.press(relation)
    await chat.press("Đồng ý")
    assert chat.has_button("Khai báo ngay"), chat.texts


async def declare(sessions, rid: int, by: int, **answers) -> None:
    async with sessions.begin() as s:
        n = await s.scalar(select(func.count()).where(Declaration.resident_id == rid))
        s.add(Declaration(resident_id=rid, version=n + 1, submission_key=uuid.uuid4().hex, submitted_by=addr(by),
                          relation="self", questionnaire_version="2021.1", submitted_at=datetime.now(TIME_ZONE),
                          weight_kg=answers.get("weight"), answers=answers))


def said(chat, msg_id: str) -> bool:
    opening = locales.t("vi", msg_id).split("{")[0].strip()
    return any(opening in text for text in chat.texts)


def documents(chat) -> dict[str, bytes]:
    return {c.params["_filename"]: c.params["_file:document"] for c in chat.last if c.method == "sendDocument"}


async def count(sessions, model, rid: int, *where) -> int:
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(model.resident_id == rid, *where))


async def audit(sessions, action: str) -> list[AuditEntry]:
    async with sessions() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.execute(q)).scalars())


async def cli(runtime, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return await args.func(args, runtime)


async def decide(runtime, api, verb: str, request_id: int, reason: str | None = None, note: str | None = None) -> int:
    """`healthbot privacy approve|deny`, telling the requester through the stand-in over HTTP."""
    runner, url = await serve(api)
    runtime.settings = runtime.settings.model_copy(update={"telegram_api_url": url})
    try:
        reason = reason or ("requested" if verb == "approve" else "legal_duty")
        return await cli(runtime, "privacy", verb, str(request_id), "--reason", reason, *(["--note", note] if note else []))
    finally:
        await runner.cleanup()


async def the_request(sessions) -> DeletionRequest:
    async with sessions() as s:
        return await s.scalar(select(DeletionRequest))


async def export_row(sessions, rid: int) -> dict[str, object]:
    async with sessions() as s:
        tbl = await export.table(s, WARD, "vi", TIME_ZONE, reveal=True)
    row = tbl.rows[tbl.resident_ids.index(rid)]
    return dict(zip(tbl.headers, row, strict=True))


# ---------------------------------------------------------------- /dulieucuatoi


async def test_my_data_is_one_readable_file_and_one_json_with_everything(chat_factory, sessions):
    lan = await resident(sessions, phone="+84912345678", insurance_code="DN4797915410033")
    chat = chat_factory(A)
    await link(chat, lan)
    await declare(sessions, lan.id, A, weight=52.5, allergies="Penicillin")
    await declare(sessions, lan.id, A, weight=53.0, allergies="Penicillin")

    await chat.command("dulieucuatoi")
    docs = documents(chat)
    assert set(docs) == {f"du-lieu-ca-nhan-{lan.id}.{ext}" for ext in ("txt", "json", "fhir.json", "pdf")}
    data = json.loads(docs[f"du-lieu-ca-nhan-{lan.id}.json"])
    assert data["resident"]["full_name"] == "Nguyễn Thị Lan" and data["resident"]["code"] == lan.code
    assert data["resident"]["phone"] == "+84912345678" and data["resident"]["address"] == LAN["address"]
    [ln] = data["links"]
    assert (ln["relation"], ln["consent_version"], ln["this_account"], ln["ended_at"]) == ("self", "2026-01", True, None)
    [consent] = data["consents"]
    assert consent["version"] == "2026-01" and consent["withdrawn_at"] is None
    assert [d["version"] for d in data["declarations"]] == [1, 2]
    assert [d["weight_kg"] for d in data["declarations"]] == [52.5, 53.0]
    assert data["declarations"][0]["answers"]["allergies"] == "Penicillin"
    assert "link" in [e["action"] for e in data["access_log"]]

    text = docs[f"du-lieu-ca-nhan-{lan.id}.txt"].decode("utf-8")
    for needle in ("Nguyễn Thị Lan", "Thông tin trong sổ hộ của phường", "Tờ khai y tế (2 lần)", "Lần 2",
                   "Penicillin", "Phiên bản 2026-01", "Nữ", codes.display(lan.code), "0912 345 678"):
        assert needle in text, needle
    assert "chị Nguyễn Thị Lan" in chat.text  # the caption names her

    [entry] = await audit(sessions, "privacy_access")
    assert (entry.actor_id, entry.resident_id, entry.outcome) == (addr(A), lan.id, "ok")
    assert "Lan" not in json.dumps(entry.details, ensure_ascii=False)


async def test_my_data_asks_whom_when_the_account_holds_several(chat_factory, sessions):
    lan = await resident(sessions)
    hoa = await resident(sessions, full_name="Trần Thị Hoa", birth_date=born(72), address=None)
    chat = chat_factory(A)
    await link(chat, lan)
    await link(chat, hoa, "Cha mẹ")
    await chat.command("dulieucuatoi")
    assert not documents(chat) and chat.has_button("Nguyễn Thị Lan") and chat.has_button("Trần Thị Hoa")
    await chat.press("Trần Thị Hoa")
    docs = documents(chat)
    data = json.loads(docs[f"du-lieu-ca-nhan-{hoa.id}.json"])
    assert data["resident"]["full_name"] == "Trần Thị Hoa" and data["links"][0]["relation"] == "parent"


async def test_an_account_not_linked_is_refused_politely_with_nothing_disclosed(chat_factory, sessions):
    lan = await resident(sessions)
    other = await resident(sessions, full_name="Lê Văn Tâm", sex="M")
    await link(chat_factory(A), lan)
    stranger = chat_factory(B)
    await link(stranger, other)

    await stranger.command("dulieucuatoi", codes.display(lan.code))
    refusal = stranger.text
    assert not documents(stranger) and said(stranger, "privacy.not_linked")
    for secret in ("Lan", "Nguyễn", str(lan.birth_year), lan.code):
        assert secret not in refusal, secret
    # A code nobody has gets the very same answer: whether a code exists is not disclosed.
    await stranger.command("dulieucuatoi", codes.new_code())
    assert stranger.text == refusal
    await stranger.command("rutdongy", lan.code)
    assert said(stranger, "privacy.not_linked") and await count(sessions, Link, lan.id, Link.revoked_at.is_(None)) == 1
    await stranger.command("xoadulieu", lan.code)
    assert said(stranger, "privacy.not_linked")

    nobody = chat_factory(B + 50)
    await nobody.command("dulieucuatoi")
    assert said(nobody, "privacy.no_people") and not documents(nobody)

    refused = [(e.action, e.actor_id, e.resident_id, e.outcome) for e in await audit(sessions, "privacy_access")]
    assert refused == [("privacy_access", addr(B), lan.id, "not_linked"), ("privacy_access", addr(B), None, "unknown_code"),
                       ("privacy_access", addr(B + 50), None, "no_links")]
    assert [(e.resident_id, e.outcome) for e in await audit(sessions, "consent_withdraw")] == [(lan.id, "not_linked")]
    assert [(e.resident_id, e.outcome) for e in await audit(sessions, "deletion_request")] == [(lan.id, "not_linked")]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeletionRequest)) == 0

    # Lan reads the refused attempts in her data, in words.
    owner = chat_factory(A)
    await owner.command("dulieucuatoi")
    text = documents(owner)[f"du-lieu-ca-nhan-{lan.id}.txt"].decode("utf-8")
    assert locales.t("vi", "privacy.doc.outcome", outcome=audit_labels.outcome("vi", "not_linked")) in text
    assert "not_linked" not in text and "privacy_access" not in text


# ---------------------------------------------------------------- /rutdongy


async def test_withdrawal_ends_the_link_drops_the_draft_and_stops_reminders(chat_factory, sessions, runtime):
    lan = await resident(sessions)
    chat = chat_factory(A)
    await link(chat, lan)
    await declare(sessions, lan.id, A, weight=52.5)
    # A reminder already under way when she withdraws: its delivery was made before.
    async with sessions.begin() as s:
        await create(s, Audience(WARD, everyone=True), None, None, actor_kind="cli", actor_id="test")
    queue = Queue(runtime.engine, "test-worker", 60)
    await queue.start_due()
    claimed = [c.id for c in await queue.claim(10)]
    assert [r.resident_id for r in await queue.recipients(claimed)] == [lan.id]
    # …and a new declaration in progress for her.
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:3])
    assert (await runtime.store.load(addr(A)))["declare"]["rid"] == lan.id

    await chat.command("rutdongy")
    assert said(chat, "privacy.withdraw_confirm") and chat.has_button("Không, giữ nguyên")
    await chat.press("Không, giữ nguyên")
    assert said(chat, "privacy.kept") and await count(sessions, Link, lan.id, Link.revoked_at.is_(None)) == 1

    await chat.command("rutdongy")
    await chat.press(locales.t("vi", "privacy.btn_withdraw"))
    assert said(chat, "privacy.withdrawn") and "2026-01" in chat.text
    assert chat.has_button("Liên kết thẻ") and not chat.has_button("Khai báo sức khỏe")  # the menu after it
    async with sessions() as s:
        ln = await s.scalar(select(Link).where(Link.resident_id == lan.id))
        consent = await s.scalar(select(Consent).where(Consent.resident_id == lan.id))
    assert ln.revoked_at is not None and consent.withdrawn_at is not None
    [entry] = await audit(sessions, "consent_withdraw")
    assert entry.details == {"consent_version": "2026-01"} and entry.actor_id == addr(A)
    state = await runtime.store.load(addr(A))
    assert "declare" not in state and "person_id" not in state

    # No further reminders: not in any audience, and dropped from the one under way.
    size = await runtime.services.broadcasts.audience_size(Audience(WARD, everyone=True), datetime.now(TIME_ZONE))
    assert size.residents == 0 and await queue.recipients(claimed) == []
    # Declarations stay with the health department, marked in the export.
    assert await count(sessions, Declaration, lan.id) == 1
    row = await export_row(sessions, lan.id)
    assert row["Đồng ý đã rút"] == "Có"
    await chat.command("dulieucuatoi")
    assert not documents(chat) and said(chat, "privacy.no_people")


async def test_withdraw_and_ask_for_erasure_in_one_step(chat_factory, sessions):
    lan = await resident(sessions)
    chat = chat_factory(A)
    await link(chat, lan)
    await chat.command("rutdongy", lan.code)
    await chat.press(locales.t("vi", "privacy.btn_withdraw_erase"))
    assert said(chat, "privacy.erase_requested") and said(chat, "privacy.withdrawn")
    req = await the_request(sessions)
    assert (req.resident_id, req.requested_by, req.status) == (lan.id, addr(A), "open")
    assert await count(sessions, Link, lan.id, Link.revoked_at.is_(None)) == 0


# ---------------------------------------------------------------- /xoadulieu and the staff decision


async def test_erasure_approved_while_a_declaration_is_in_progress_elsewhere(
    chat_factory, sessions, runtime, api, capsys
):
    lan = await resident(sessions, phone="+84912345678")
    neighbour = await resident(sessions, full_name="Phạm Văn Dũng", sex="M")
    mother, son = chat_factory(A), chat_factory(C)
    await link(mother, lan)
    await link(son, lan, "Con")
    await link(mother, neighbour, "Người thân khác")
    await declare(sessions, lan.id, A, weight=52.5, allergies="Penicillin")
    await declare(sessions, lan.id, C, weight=53.5)
    await declare(sessions, neighbour.id, A, weight=70.0)
    async with sessions.begin() as s:
        s.add(Staff(account=addr(STAFF), ward=WARD, role="staff"))
    async with sessions() as s:
        before = await stats.report(s, WARD, datetime.now(TIME_ZONE))
    # The son is at the review of a new declaration for her.
    await son.command("khaibao")
    await run(son, LAN_SCRIPT)
    assert said(son, "decl.review")

    await mother.command("xoadulieu")
    await mother.press("Nguyễn Thị Lan")
    assert said(mother, "privacy.erase_confirm")
    await mother.press(locales.t("vi", "privacy.btn_erase"))
    assert said(mother, "privacy.erase_requested")
    req = await the_request(sessions)
    assert str(req.id) in mother.text and req.ward == WARD and req.status == "open"
    await mother.command("xoadulieu", lan.code)
    await mother.press(locales.t("vi", "privacy.btn_erase"))
    assert said(mother, "privacy.erase_pending") and str(req.id) in mother.text

    # Three days pass: the request is flagged to staff, in the bot and at the terminal.
    async with sessions.begin() as s:
        await s.execute(update(DeletionRequest).values(requested_at=datetime.now(TIME_ZONE) - timedelta(hours=73)))
    staff = chat_factory(STAFF)
    await staff.command("thongke")
    assert "quá 72 giờ: 1" in staff.text
    capsys.readouterr()
    assert await cli(runtime, "stats") == 0
    assert "quá 72 giờ" in capsys.readouterr().out
    assert await cli(runtime, "privacy", "requests") == 0
    listing = capsys.readouterr().out
    assert str(lan.id) in listing and "3 ngày 1 giờ" in listing and "⚠" in listing

    assert await decide(runtime, api, "approve", req.id, "requested", note="Đã gọi điện xác nhận") == 0
    out = capsys.readouterr().out
    assert "xóa 2 tờ khai, 2 liên kết, 2 lần đồng ý" in out and "bỏ 1 tờ khai đang làm dở" in out

    # Gone: declarations, links, consents; the register row stays; the neighbour is untouched.
    for model in (Declaration, Link, Consent):
        assert await count(sessions, model, lan.id) == 0, model
    assert await count(sessions, Declaration, neighbour.id) == 1
    async with sessions() as s:
        row = await s.get(Resident, lan.id)
        req = await s.get(DeletionRequest, req.id)
        after = await stats.report(s, WARD, datetime.now(TIME_ZONE))
    assert (row.full_name, row.code) == ("Nguyễn Thị Lan", lan.code)
    assert (req.status, req.reason, req.note, req.notified_at is not None) == (
        "approved", "requested", "Đã gọi điện xác nhận", True)
    total_before, total_after = before.rows[0], after.rows[0]
    assert (total_after.residents, total_after.linked, total_after.declared) == (
        total_before.residents, total_before.linked - 1, total_before.declared - 1)
    exported = await export_row(sessions, lan.id)
    declared = [locales.t("vi", c.header) for c in export.columns()
                if (c.question is not None and not c.question.registry) or c.key in ("submitted_at", "version")]
    assert list(exported.values())[0] == lan.code  # register kept, declaration gone
    assert all(exported[h] is None for h in declared)

    # The requester is told, through the Bot API, in Vietnamese.
    told = [c.params["text"] for c in api.sent(A, "sendMessage") if str(req.id) in c.params.get("text", "")]
    # why (from the code), what is kept and why, and the note
    assert any("đã được chấp thuận: theo yêu cầu của bạn" in x and "Vẫn giữ: họ tên, ngày sinh và mã thẻ" in x
               and "Ghi chú của cán bộ: Đã gọi điện xác nhận" in x for x in told), told

    # The son's review cannot be saved afterwards: the draft is gone and the link with it.
    await son.press("Xác nhận gửi")
    assert said(son, "decl.lost")
    assert await count(sessions, Declaration, lan.id) == 0
    # Even a draft that escaped the Redis sweep is refused by the database.
    sub = Submission(resident_id=lan.id, account_id=addr(C), submission_key="late", questionnaire_version="2021.1",
                     started_at=None, answers={"weight": 54.0}, columns={"weight_kg": 54.0})
    assert await runtime.services.declarations.submit(sub) == ("not_linked", 0)

    # The trail keeps who asked, who decided and when, without the erased values.
    [decision] = await audit(sessions, "deletion_approve")
    assert decision.resident_id == lan.id and decision.actor_kind == "cli"
    assert decision.details["requested_by"] == addr(A) and decision.details["declarations"] == 2
    assert not {"52.5", "53.5", "Penicillin", "Nguyễn Thị Lan"} & set(map(str, decision.details.values()))
    async with sessions() as s:
        held = [e.details for e in (await s.execute(select(AuditEntry))).scalars()]
    assert "Penicillin" not in json.dumps(held, ensure_ascii=False)
    assert decision.details["reason"] == "requested" and "Đã gọi điện" not in json.dumps(held, ensure_ascii=False)


async def test_denied_request_keeps_everything_and_tells_the_reason(chat_factory, sessions, runtime, api, capsys):
    lan = await resident(sessions)
    mother = chat_factory(A)
    await link(mother, lan)
    await declare(sessions, lan.id, A, weight=52.5)
    await mother.command("ngonngu", "en")
    await mother.command("xoadulieu")
    await mother.press("Send the erasure request")
    req = await the_request(sessions)
    assert await decide(runtime, api, "deny", req.id, "dispute", note="Hồ sơ đang được thanh tra") == 0
    assert await decide(runtime, api, "approve", req.id) == 1  # decided already
    assert "đã được xử lý trước đó (denied)" in capsys.readouterr().err
    assert await count(sessions, Declaration, lan.id) == 1 and await count(sessions, Link, lan.id) == 1
    told = api.sent(A, "sendMessage")[-1].params["text"]
    assert "was not approved" in told and "in use to settle a complaint" in told  # in her language
    assert "Staff note: Hồ sơ đang được thanh tra" in told
    [entry] = await audit(sessions, "deletion_deny")
    assert entry.details["reason"] == "dispute" and "declarations" not in entry.details
    assert "thanh tra" not in json.dumps(entry.details, ensure_ascii=False)  # the note is not in the log


async def test_an_undeliverable_outcome_does_not_undo_the_decision(chat_factory, sessions, runtime, api, capsys):
    lan = await resident(sessions)
    mother = chat_factory(A)
    await link(mother, lan)
    await mother.command("xoadulieu")
    await mother.press(locales.t("vi", "privacy.btn_erase"))
    api.blocked.add(A)
    assert await decide(runtime, api, "approve", (await the_request(sessions)).id) == 0
    assert "Chưa báo được" in capsys.readouterr().err
    async with sessions() as s:
        req = await s.get(DeletionRequest, 1)
    assert req.status == "approved" and req.notified_at is None
    assert await count(sessions, Link, lan.id) == 0


async def test_a_save_racing_the_erasure_waits_for_it_and_is_refused(sessions, runtime):
    lan = await resident(sessions)
    async with sessions.begin() as s:
        s.add(Account(address=addr(C)))
        await s.flush()
        s.add(Link(account_id=addr(C), resident_id=lan.id, relation="child", consent_version="2026-01",
                   consented_at=datetime.now(TIME_ZONE)))
    sub = Submission(resident_id=lan.id, account_id=addr(C), submission_key="racing", questionnaire_version="2021.1",
                     started_at=None, answers={"weight": 54.0}, columns={"weight_kg": 54.0})
    async with sessions.begin() as s:  # the approval's transaction, not yet committed
        await privacy.erase(s, lan.id)
        saving = asyncio.create_task(runtime.services.declarations.submit(sub))
        await asyncio.sleep(0.3)
        assert not saving.done()  # it waits for the erasure's row lock…
    assert await saving == ("not_linked", 0)  # …then finds the link gone
    assert await count(sessions, Declaration, lan.id) == 0


# ---------------------------------------------------------------- healthbot audit


async def test_audit_answers_who_saw_or_changed_what_when(chat_factory, sessions, runtime, capsys):
    lan = await resident(sessions)
    other = await resident(sessions, full_name="Lê Văn Tâm", sex="M")
    await link(chat_factory(A), lan)
    await link(chat_factory(B), other)
    async with sessions.begin() as s:
        s.add(Staff(account=addr(STAFF), ward=WARD, role="staff", full_name="Phạm Văn Đức"))
    staff = chat_factory(STAFF)
    await staff.command("tracuu", lan.code)
    await staff.command("tracuu", "KHONGCOAI")  # found nobody
    await chat_factory(A).command("dulieucuatoi")
    async with sessions.begin() as s:
        tbl = await export.table(s, WARD, "vi", TIME_ZONE)
        s.add(export.audit_entry(tbl, WARD, "csv", "staff", addr(STAFF)))
    capsys.readouterr()

    today = datetime.now(TIME_ZONE).strftime("%d/%m/%Y")
    assert await cli(runtime, "audit", "--resident", codes.display(lan.code), "--since", today) == 0
    out = capsys.readouterr().out
    action, outcome, kind = (partial(audit_labels.label, "vi", section) for section in ("action", "outcome", "kind"))
    staff_named = f"{kind('staff')} Phạm Văn Đức ({addr(STAFF)})"
    for needle in (action("link"), action("staff_lookup"), staff_named, action("privacy_access"),
                   f"{kind('account')} {addr(A)}", action("staff_export"), outcome("ok"), "2 hồ sơ"):
        assert needle in out, needle
    assert "Nguyễn Thị Lan" not in out and addr(B) not in out
    assert not re.search(r"\b(link|staff_lookup|privacy_access|staff_export|ok|staff|account)\b", out), out

    assert await cli(runtime, "audit", "--staff", str(STAFF), "--csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out.removeprefix("\ufeff"))))
    assert rows[0] == ["Thời điểm", "Người thực hiện", "Hành động", "Hồ sơ", "Kết quả", "Chi tiết"]
    assert [(r[2], r[4]) for r in rows[1:]] == [(action("staff_lookup"), outcome("ok")),
                                                (action("staff_lookup"), outcome("not_found")),
                                                (action("staff_export"), outcome("ok"))]
    assert all(r[1] == staff_named for r in rows[1:])
    assert str(lan.id) in {r[3] for r in rows[1:]}
    # Reading the trail is itself in the trail.
    queries = await audit(sessions, "audit_query")
    assert [q.resident_id for q in queries] == [lan.id, None]


async def test_bad_terminal_input_is_one_line_and_exit_code_2(runtime, capsys):
    for argv in (
        ("privacy", "approve", "abc", "--reason", "x"),
        ("privacy", "deny", "7"),
        ("privacy", "deny", "7", "--reason", "requested"),  # a reason for approving only
        ("privacy", "approve", "7", "--reason", "Theo đề nghị"),  # free text is not a reason code
        ("audit",),
        ("audit", "--resident", "X", "--staff", "1"),
        ("audit", "--resident", "not-a-code!"),
        ("audit", "--staff", "1", "--since", "31/02/2026"),
    ):
        assert await cli(runtime, *argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("healthbot: ") and "\n" not in err, (argv, err)
    assert await cli(runtime, "privacy", "approve", "999", "--reason", "requested") == 1
    assert "không có yêu cầu xóa dữ liệu số 999" in capsys.readouterr().err


def test_the_real_command_line_has_no_traceback(database_url, redis_url, redis_prefix):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix,
           "CODE_SECRET": CODE_SECRET}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "--since", "hôm qua", "--staff", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "dd/mm/yyyy" in done.stderr


async def test_rights_reachable_from_the_main_menu(chat_factory, sessions):
    """People who never type commands find their rights behind a menu button."""
    r = await resident(sessions)
    chat = chat_factory(7301)
    await link(chat, r)
    await chat.press("Để sau")
    await chat.press("Dữ liệu của tôi")
    assert chat.has_button("Xem dữ liệu")
    await chat.press("Xem dữ liệu")
    assert any(c.method == "sendDocument" for c in chat.last)
