"""Ward staff through the real Application (in process) and the terminal commands:
statistics, the reminder wizard, look-up, export, opting out, and who may do what."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.cli_staff import register
from bot.config import TIME_ZONE
from bot.render import text_of
from dialogs.codes import display
from dialogs.core import Reply
from dialogs.ports import Audience, StaffMember
from dialogs.staff import describe
from locales import t
from storage.models import Account, AuditEntry, Broadcast, Resident, Staff
from tests import conftest
from tests.chat import addr
from tests.staffdata import KP1, KP2, OTHER_WARD, WARD, Town
from tests.standin import callback_update, serve
from tests.test_broadcast import buttons, create, finish, start_worker, wait_for

STAFF_ID, OTHER_STAFF_ID, ADMIN_ID = 9001, 9002, 9003
STAFF_COMMANDS = ("thongke", "stats", "nhacnho", "remind", "tracuu", "lookup", "canbo", "staff")


@pytest.fixture
async def town(sessions, clean_db):
    town = Town(sessions)
    await town.staff(STAFF_ID, WARD)
    await town.staff(OTHER_STAFF_ID, OTHER_WARD)
    await town.staff(ADMIN_ID, None, role="admin")
    return town


def answer(chat) -> list[tuple[str, dict]]:
    return [(c.method, c.params) for c in chat.last]


async def audit(sessions, action: str) -> list[AuditEntry]:
    async with sessions() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.execute(q)).scalars())


async def resident(sessions, rid: int) -> Resident:
    async with sessions() as s:
        return await s.get(Resident, rid)


# ---------------------------------------------------------------- who may do what


async def test_non_staff_get_exactly_the_unknown_command_answer(chat_factory, town, sessions):
    _, (rid,) = await town.family(1)
    code = (await resident(sessions, rid)).code
    chat = chat_factory(5001)
    await chat.command("khongcolenhnay")
    unknown = answer(chat)
    for name in STAFF_COMMANDS:
        for args in ("", WARD, code, "Nguyễn"):
            await chat.command(name, args)
            assert answer(chat) == unknown, (name, args)
    # The stop button of a progress message, pressed by someone else: like any stale button.
    await chat.redeliver(callback_update(chat.api, chat.user_id, "khongco:1"))
    stale = answer(chat)
    await chat.redeliver(callback_update(chat.api, chat.user_id, "bcancel:1"))
    assert answer(chat) == stale
    assert await audit(sessions, "staff_lookup") == []
    assert await audit(sessions, "staff_stats") == []


async def test_staff_of_another_ward_cannot_see_remind_or_look_up_this_ward(chat_factory, town, sessions, runtime):
    rt = runtime
    _, ours = await town.family(3)
    await town.family(1, ward=OTHER_WARD)
    code = (await resident(sessions, ours[0])).code
    other = chat_factory(OTHER_STAFF_ID)

    await other.command("thongke", WARD)
    assert other.texts[0] == t("vi", "staff.not_your_ward")
    assert OTHER_WARD in other.texts[1] and WARD not in other.texts[1]
    assert [a.details["ward"] for a in await audit(sessions, "staff_stats")] == [OTHER_WARD]

    for query in (code, display(code), (await resident(sessions, ours[0])).full_name):
        await other.command("tracuu", query)
        assert other.text == t("vi", "staff.lookup.not_found")

    await other.command("nhacnho")  # their ward is the only one: no ward question
    await other.press("Chưa khai báo lần nào")
    await other.press("Cả phường")
    await other.press("lời nhắc mẫu")
    expected = text_of(Reply("staff.remind.preview", {"who": describe(Audience(OTHER_WARD, undeclared=True)),
                                                      "chats": 1, "residents": 1}), "vi")
    assert other.texts[0] == expected

    member = StaffMember(OTHER_STAFF_ID, OTHER_WARD)
    with pytest.raises(PermissionError):
        await rt.services.broadcasts.create(member, Audience(WARD, undeclared=True), None, None, 1, "vi")
    with pytest.raises(PermissionError):
        await rt.services.staff.stats(member, WARD, datetime.now(UTC))
    assert not await rt.services.broadcasts.cancel(member, await create(rt))  # ours, not theirs


# ---------------------------------------------------------------- the "done when"


async def test_staff_checks_numbers_reminds_one_quarter_and_each_family_gets_one_message(
        chat_factory, town, runtime, api, sessions):
    rt = runtime
    threes = [await town.family(3) for _ in range(3)]  # three undeclared members each
    mixed, (_, still) = await town.family(2, declared=1)
    declared, _ = await town.family(2, declared=2)
    other_quarter, _ = await town.family(3, quarter=KP2)
    staff = chat_factory(STAFF_ID)

    await staff.command("thongke")
    report = staff.text
    assert WARD in report and KP1 in report and KP2 in report

    await staff.command("nhacnho")
    await staff.press("Chưa khai báo lần nào")
    assert staff.has_button(KP1) and staff.has_button(KP2)
    await staff.press(KP1)
    await staff.press("lời nhắc mẫu")
    preview = text_of(Reply("staff.remind.preview", {
        "who": describe(Audience(WARD, undeclared=True, quarter=KP1)), "chats": 4, "residents": 10}), "vi")
    assert staff.texts[0] == preview
    await staff.press("Gửi ngay")
    async with sessions() as s:
        bid = (await s.execute(select(Broadcast.id))).scalar_one()
    assert staff.texts[0] == t("vi", "staff.remind.started", id=bid)

    task, stop = start_worker(rt, api, rate=50)
    try:
        b = await town.wait_finished(bid)
    finally:
        await finish(task, stop)

    assert b.status == "done"
    for acc, members in threes:
        [msg] = api.sent(acc, "sendMessage")
        assert buttons(msg) == [f"declare:{rid}" for rid in members]
    [msg] = api.sent(mixed, "sendMessage")
    assert buttons(msg) == [f"declare:{still}"]
    assert api.sent(declared) == [] and api.sent(other_quarter) == []
    # The staff member watched it: one progress message edited in place, then the report.
    progress = [c for c in api.sent(STAFF_ID) if "bcancel" in str(c.params.get("reply_markup"))]
    assert progress and {c.params.get("message_id") for c in progress[1:]} <= {None, *[
        c.params.get("message_id") for c in api.sent(STAFF_ID, "editMessageText")]}
    final = api.sent(STAFF_ID, "sendMessage")[-1].params["text"]
    assert final.split("\n")[1] == t("vi", "staff.progress.final_done", id=bid, duration="", sent=4, blocked=0, unreachable=0,
                                     failed=0, skipped=0, cancelled=0).split("\n")[1]
    [created] = await audit(sessions, "broadcast_create")
    assert created.actor_kind == "staff" and created.actor_id == addr(STAFF_ID)
    # A family member presses "Khai báo ngay" for the second person: the declaration starts.
    family = chat_factory(threes[0][0])
    await family.click("Khai báo ngay")
    assert family.text and family.text != t("vi", "err.button_expired")


async def test_the_stop_button_cancels_the_broadcast(chat_factory, town, runtime, api):
    rt = runtime
    for _ in range(40):
        await town.family(1)
    staff = chat_factory(STAFF_ID)
    await staff.command("nhacnho")
    await staff.press("Chưa khai báo lần nào")
    await staff.press("Cả phường")
    await staff.press("lời nhắc mẫu")
    await staff.press("Gửi ngay")
    task, stop = start_worker(rt, api, rate=10)
    try:
        await wait_for(lambda: any("bcancel" in str(c.params.get("reply_markup")) for c in api.sent(STAFF_ID)))
        await staff.click("Dừng gửi")
        assert t("vi", "staff.remind.cancelled", id=1) in staff.texts  # (beside progress edits)
        b = await town.wait_finished(1)
    finally:
        await finish(task, stop)
    assert b.status == "cancelled"
    assert len([c for c in api.sent() if c.method == "sendMessage" and int(c.params["chat_id"]) != STAFF_ID]) < 40


async def test_wizard_back_and_bad_answers(chat_factory, town, sessions):
    await town.family(1, quarter=KP1)
    staff = chat_factory(STAFF_ID)
    await staff.command("nhacnho")
    await staff.press("hoặc đã quá hạn")
    await staff.send("không biết")
    assert staff.texts[0] == t("vi", "staff.remind.bad_days", max=3650)
    await staff.send("45 ngày")
    await staff.press("Quay lại")  # back to the number of days
    assert staff.has_button("90")
    await staff.press("90")
    await staff.press(KP1)
    await staff.send("ok")
    assert staff.texts[0] == t("vi", "staff.remind.bad_message", max=1000)
    await staff.send("Kính mời gia đình khai báo y tế định kỳ.")
    who = describe(Audience(WARD, undeclared=True, older_than_days=90, quarter=KP1))
    assert staff.texts[0] == text_of(Reply("staff.remind.preview", {"who": who, "chats": 1, "residents": 1}), "vi")
    assert staff.texts[1].startswith("Kính mời gia đình khai báo y tế định kỳ.")
    await staff.press("Hẹn giờ")
    for wrong in ("31/02/2030 08:00", "01/01/2020 08:00", "mai 8 giờ"):
        await staff.send(wrong)
        assert staff.texts[0] == t("vi", "staff.remind.bad_when", days=30)
    await staff.press("Hủy")
    async with sessions() as s:
        assert (await s.execute(select(Broadcast))).first() is None


async def test_wizard_schedules_a_reminder_with_its_own_text(chat_factory, town, sessions):
    await town.family(2)
    staff = chat_factory(STAFF_ID)
    await staff.command("nhacnho")
    await staff.press("Chưa khai báo lần nào")
    await staff.press("Cả phường")
    await staff.send("Kính mời gia đình khai báo y tế định kỳ.")
    await staff.press("Hẹn giờ")
    later = (datetime.now(TIME_ZONE) + timedelta(days=1)).strftime("%d/%m/%Y 08:00")
    await staff.send(later)
    async with sessions() as s:
        b = (await s.execute(select(Broadcast))).scalar_one()
    assert b.status == "scheduled" and b.message == "Kính mời gia đình khai báo y tế định kỳ."
    assert b.scheduled_at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M") == later
    assert staff.texts[0] == t("vi", "staff.remind.scheduled", id=b.id, at=later)


# ---------------------------------------------------------------- look-up and statistics


async def test_lookup_by_code_or_name_shows_the_latest_declaration_and_is_audited(chat_factory, town, sessions):
    acc, (rid,) = await town.family(1)
    async with sessions.begin() as s:
        r = await s.get(Resident, rid)
        r.full_name = "Nguyễn Thị Hoa"
    await town.declare(rid, days_ago=30, height_cm=Decimal("150"), weight_kg=Decimal("50"))
    await town.declare(rid, days_ago=1, height_cm=Decimal("155"), weight_kg=Decimal("52.5"), systolic=130,
                       diastolic=85)
    code = (await resident(sessions, rid)).code
    staff = chat_factory(STAFF_ID)

    await staff.command("tracuu", display(code).lower())
    text = staff.text
    assert "52,5" in text and "130/85" in text and "(lần 2)" in text
    await staff.command("tracuu", "nguyen thi hoa")
    assert staff.text == text
    await staff.command("tracuu")
    assert staff.text == t("vi", "staff.lookup.usage")
    lookups = await audit(sessions, "staff_lookup")
    assert [(a.actor_id, a.resident_id) for a in lookups] == [(addr(STAFF_ID), rid)] * 2


async def test_lookup_lists_several_and_admins_see_every_ward(chat_factory, town, sessions):
    for ward in (WARD, OTHER_WARD):
        await town.resident(ward=ward, name="Trần Văn Bình")
    staff, admin = chat_factory(STAFF_ID), chat_factory(ADMIN_ID)
    await staff.command("tracuu", "tran van binh")
    assert staff.text.startswith("🔎")  # one in their ward
    await admin.command("tracuu", "Trần Văn Bình")
    assert staff.text != admin.text and admin.text.count("Trần Văn Bình") == 2


async def test_stats_counts_by_quarter_and_admin_sees_every_ward(chat_factory, town, sessions, runtime):
    rt = runtime
    await town.family(3)  # KP1: 3 residents linked, none declared
    _, (a, b) = await town.family(2, quarter=KP2)
    await town.declare(a, days_ago=200)
    await town.declare(b, days_ago=10)
    await town.resident(quarter=KP2)  # not linked
    await town.resident(ward=OTHER_WARD)

    member = StaffMember(STAFF_ID, WARD)
    rep = await rt.services.staff.stats(member, WARD, datetime.now(UTC))
    rows = {r.label: (r.residents, r.linked, r.declared, r.recent) for r in rep.rows}
    assert rows == {None: (6, 5, 2, 1), KP1: (3, 3, 0, 0), KP2: (3, 2, 2, 1)}
    admin = StaffMember(ADMIN_ID, None, "admin")
    rep = await rt.services.staff.stats(admin, None, datetime.now(UTC))
    assert {r.label: r.residents for r in rep.rows} == {None: 7, WARD: 6, OTHER_WARD: 1}

    chat = chat_factory(ADMIN_ID)
    await chat.command("thongke")
    assert WARD in chat.text and OTHER_WARD in chat.text
    table = chat.text.splitlines()[3:6]  # after the title, the time and the legend
    assert all(line.endswith(label) for line, label in zip(table, ("∑", OTHER_WARD, WARD), strict=True))
    assert max(len(line) for line in table) <= 32  # fits a small phone


async def test_stats_shows_registered_extra_indicators(chat_factory, town, monkeypatch):
    from storage import stats

    async def overdue(session, ward, now):
        return 3

    monkeypatch.setattr(stats, "INDICATORS", [("staff.all_wards", overdue)])
    chat = chat_factory(STAFF_ID)
    await chat.command("thongke")
    assert chat.text.endswith(t("vi", "staff.stats.extra", label=t("vi", "staff.all_wards"), value=3))


# ---------------------------------------------------------------- opting out (everyone)


async def test_residents_turn_reminders_off_and_on(chat_factory, town, runtime, sessions):
    rt = runtime
    chat = chat_factory(5005)  # no account yet: one is made
    await chat.command("tatnhacnho")
    assert chat.texts[0] == t("vi", "staff.optout.off")
    async with sessions() as s:
        assert (await s.get(Account, addr(5005))).reminders_enabled is False
    await town.family(2, account=5005)
    size = await rt.services.broadcasts.audience_size(Audience(WARD, undeclared=True), datetime.now(UTC))
    assert size.chats == 0
    await chat.command("batnhacnho")
    assert chat.texts[0] == t("vi", "staff.optout.on")
    size = await rt.services.broadcasts.audience_size(Audience(WARD, undeclared=True), datetime.now(UTC))
    assert (size.chats, size.residents) == (1, 2)


# ---------------------------------------------------------------- the terminal


def parse(*argv):
    parser = argparse.ArgumentParser(prog="healthbot")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


async def cli(rt, *argv) -> int:
    args = parse(*argv)
    return await args.func(args, rt)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("healthbot: ")
    return err[0]


async def test_cli_staff_accounts(runtime, town, capsys, sessions):
    rt = runtime
    await town.resident()
    assert await cli(rt, "staff", "add", "--telegram-id", "777", "--ward", "phuong 27") == 2  # new: a name needed
    assert "--name" in one_line_error(capsys)
    assert await cli(rt, "staff", "add", "--telegram-id", "777", "--ward", "phuong 27", "--name",
                     " Nguyễn  Thị Lan ") == 0
    async with sessions() as s:
        row = await s.get(Staff, addr(777))
    assert (row.ward, row.role, row.full_name) == (WARD, "staff", "Nguyễn Thị Lan")
    assert await cli(rt, "staff", "add", "--zalo-id", "778", "--role", "admin", "--name", "Trần Văn Nam") == 0
    async with sessions() as s:
        assert (await s.get(Staff, "zalo:778")).role == "admin"
    # Changing the ward keeps the name; a new name is a rename, audited without the name.
    assert await cli(rt, "staff", "add", "--telegram-id", "777", "--role", "admin") == 0
    assert await cli(rt, "staff", "add", "--telegram-id", "777", "--role", "admin", "--name", "Nguyễn Thị Lan Anh") == 0
    async with sessions() as s:
        assert (await s.get(Staff, addr(777))).full_name == "Nguyễn Thị Lan Anh"
    renamed = await audit(sessions, "staff_rename")
    assert [e.details for e in renamed] == [{"account": addr(777)}]
    assert "Nguyễn" not in str([e.details for e in await audit(sessions, "staff_add")])
    capsys.readouterr()
    assert await cli(rt, "staff", "list") == 0
    out = capsys.readouterr().out
    assert "777" in out and "778" in out and "Nguyễn Thị Lan Anh" in out and "Trần Văn Nam" in out
    assert await cli(rt, "staff", "remove", "--telegram-id", "777") == 0
    assert await cli(rt, "staff", "remove", "--telegram-id", "777") == 1
    capsys.readouterr()
    for argv in (("--telegram-id", "abc", "--ward", WARD), ("--telegram-id", "5"),
                 ("--telegram-id", "5", "--ward", "Phường 99"), ("--telegram-id", "5", "--role", "boss"),
                 ("--zalo-id", "not-an-id", "--role", "admin"), ("--telegram-id", "5", "--ward", WARD, "--name", " "),
                 ("--telegram-id", "5", "--ward", WARD, "--name", "Lan 2"),
                 ("--telegram-id", "5", "--ward", WARD, "--name", "A" * 101)):
        assert await cli(rt, "staff", "add", *argv) == 2, argv
        one_line_error(capsys)


# `stats` and `export` at the terminal: tests/test_export.py


async def test_cli_broadcast_options_list_and_cancel(runtime, town, capsys, sessions):
    rt = runtime
    await town.family(3)
    bad = [(), ("--all", "--undeclared"), ("--older-than", "0"), ("--older-than", "x"),
           ("--undeclared", "--at", "hôm qua"), ("--undeclared", "--at", "01/01/2020 08:00"),
           ("--undeclared", "--quarter", KP1), ("--undeclared", "--ward", WARD, "--quarter", "KP 9"),
           ("--undeclared", "--message", "hi"), ("--undeclared", "--ward", "Nowhere")]
    for argv in bad:
        assert await cli(rt, "broadcast", *argv) == 2, argv
        one_line_error(capsys)
    assert await cli(rt, "broadcast", "--undeclared", "--ward", WARD) == 2  # no keyboard, no --yes
    one_line_error(capsys)

    assert await cli(rt, "broadcast", "--undeclared", "--ward", "phuong 27", "--quarter", "khu pho 1",
                     "--at", "01/01/2099 08:00", "--yes", "--no-wait") == 0
    async with sessions() as s:
        b = (await s.execute(select(Broadcast))).scalar_one()
    assert (b.ward, b.quarter, b.status) == (WARD, KP1, "scheduled")
    assert b.scheduled_at == datetime(2099, 1, 1, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City
    capsys.readouterr()
    assert await cli(rt, "broadcast", "--list") == 0
    assert f"#{b.id}" in capsys.readouterr().out
    assert await cli(rt, "broadcast", "--cancel", str(b.id)) == 0
    assert await cli(rt, "broadcast", "--cancel", str(b.id)) == 1
    assert (await town.broadcast(b.id)).status == "cancelled"


async def test_cli_broadcast_waits_with_a_progress_bar(database_url, redis_url, redis_prefix, clean_db, redis,
                                                       sessions, api, capsys):
    from bot.runtime import open_runtime

    town = Town(sessions)
    families = [(await town.family(2))[0] for _ in range(5)]
    runner, url = await serve(api)
    rt = await open_runtime(conftest.test_settings(database_url, redis_url, redis_prefix, telegram_api_url=url),
                            upgrade=False)
    try:
        assert await cli(rt, "broadcast", "--undeclared", "--ward", WARD, "--yes") == 0
    finally:
        await rt.close()
        await runner.cleanup()
    assert Counter(int(c.params["chat_id"]) for c in api.sent(method="sendMessage")) == Counter(families)
    captured = capsys.readouterr()
    assert "10" in captured.err  # the preview: 5 messages for 10 people
    assert captured.out.strip().splitlines()[-1] == t(
        "vi", "staff.cli.final", id=1, outcome=t("vi", "staff.cli.outcome_done"), sent=5, blocked=0, unreachable=0, failed=0,
        skipped=0, cancelled=0, duration=captured.out.strip().rsplit(" · ", 1)[-1])
