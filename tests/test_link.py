"""Linking an account to a resident, through the real Application in process (issue #4)."""

from __future__ import annotations

import asyncio
import io

import segno
from PIL import Image
from sqlalchemy import func, select

import locales
from dialogs import codes
from dialogs.link import MAX_MISSES, MAX_WRONG_YEARS
from storage.models import Account, AuditEntry, Consent, Link, Resident
from tests.chat import addr
from tests.standin import BOT_USERNAME

STATION_PHONE = "028 3899 0000"  # tests/conftest.py test_settings


# ---------------------------------------------------------------- helpers


async def add_resident(sessions, name="Nguyễn Thị Hoa", year=1948, sex="F", ward="Phường 27") -> Resident:
    async with sessions.begin() as s:
        row = Resident(code=codes.new_code(), ward=ward, full_name=name, birth_year=year, sex=sex)
        s.add(row)
    return row


def said(chat, msg_id: str, locale: str = "vi") -> bool:
    """Whether the last replies include message `msg_id` (its fixed opening, from the catalog)."""
    opening = locales.t(locale, msg_id).split("{")[0].strip()
    return any(opening in text for text in chat.texts)


def qr_png(payload: str) -> bytes:
    buf = io.BytesIO()
    segno.make(payload).save(buf, kind="png", scale=10, border=4)
    return buf.getvalue()


def deep_link(code: str) -> str:
    return f"https://t.me/{BOT_USERNAME}?start={code}"


async def agree(chat, locale: str = "vi") -> None:
    await chat.press(locales.t(locale, "link.btn_agree"))


def proof(resident: Resident) -> str:
    """The birth answer the bot asks for: the full date where the registry has it."""
    return resident.birth_date.strftime("%d/%m/%Y") if resident.birth_date else str(resident.birth_year)


async def link_via_start(chat, resident: Resident, relation="Tôi", consent=True, locale="vi") -> None:
    await chat.command("start", resident.code)
    assert said(chat, "link.year" if resident.birth_date is None else "security.ask_birth_date", locale), chat.texts
    await chat.send(proof(resident))
    await chat.press(relation)
    assert said(chat, "link.consent", locale)
    if consent:
        await agree(chat, locale)


async def active_links(sessions, resident_id: int | None = None, account_id: int | None = None) -> list[Link]:
    q = select(Link).where(Link.revoked_at.is_(None))
    if resident_id is not None:
        q = q.where(Link.resident_id == resident_id)
    if account_id is not None:
        q = q.where(Link.account_id == addr(account_id))
    async with sessions() as s:
        return list((await s.execute(q.order_by(Link.id))).scalars())


async def audit(sessions, action: str, outcome: str | None = None) -> list[AuditEntry]:
    q = select(AuditEntry).where(AuditEntry.action == action)
    if outcome:
        q = q.where(AuditEntry.outcome == outcome)
    async with sessions() as s:
        return list((await s.execute(q.order_by(AuditEntry.id))).scalars())


async def state_of(runtime, user_id: int) -> dict:
    return await runtime.store.load(addr(user_id))


# ---------------------------------------------------------------- three ways in


async def test_deep_link_links_after_year_relation_and_consent(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3001)
    await chat.command("start", hoa.code)
    assert "Nguyễn T. H." in chat.text and "Nguyễn Thị Hoa" not in chat.text  # masked before proof
    await chat.send("1948")
    assert chat.has_button("Cha mẹ") and chat.has_button("Vợ hoặc chồng") and chat.has_button("Quay lại")
    assert await active_links(sessions) == []
    await chat.press("Ông bà")
    assert said(chat, "link.consent") and chat.has_button("Đồng ý")
    assert await active_links(sessions) == []  # nothing stored before consent
    await agree(chat)

    [link] = await active_links(sessions)
    assert (link.account_id, link.resident_id, link.relation) == (addr(3001), hoa.id, "grandparent")
    assert link.consent_version == "2026-01" and link.consented_at is not None
    async with sessions() as s:
        consent = (await s.execute(select(Consent))).scalar_one()
    assert (consent.account_id, consent.resident_id, consent.version) == (addr(3001), hoa.id, "2026-01")
    assert "bà Nguyễn Thị Hoa" in chat.text  # named with an honorific once linked
    assert chat.has_button("Khai báo ngay") and chat.has_button("Để sau")
    [entry] = await audit(sessions, "link", "ok")
    assert entry.actor_id == addr(3001) and entry.resident_id == hoa.id
    assert "Hoa" not in str(entry.details) and hoa.code not in str(entry.details)


async def test_start_then_typed_code_with_spaces_lowercase_and_dashes(chat_factory, sessions, runtime):
    minh = await add_resident(sessions, "Trần Văn Minh", 1976, "M")
    chat = chat_factory(3002)
    await chat.command("start")
    assert said(chat, "link.code") and chat.has_button("Hủy")
    typed = " " + codes.display(minh.code).lower().replace("-", " - ", 1) + " "
    await chat.send(typed)
    assert said(chat, "link.year")
    await chat.send("năm 1976")
    await chat.press("Tôi")
    await chat.press("Đồng ý")
    assert [lk.relation for lk in await active_links(sessions, minh.id)] == ["self"]
    assert (await state_of(runtime, 3002))["person_id"] == minh.id
    assert "anh Trần Văn Minh" in chat.text


async def test_photo_of_the_card_qr_code(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3003)
    await chat.command("start")
    await chat.photo(qr_png(deep_link(hoa.code)))
    assert said(chat, "link.year") and "Nguyễn T. H." in chat.text


async def test_photo_at_the_main_menu_is_read_as_a_card(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3004)
    await chat.send("xin chào")  # lands at the main menu
    assert chat.has_button("Liên kết thẻ")
    await chat.photo(qr_png(deep_link(hoa.code)))
    assert said(chat, "link.year")


async def test_code_typed_at_the_main_menu_without_links(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3005)
    await chat.send("chào bạn")
    assert chat.has_button("Liên kết thẻ") and not chat.has_button("Người thân")
    await chat.send(codes.display(hoa.code))
    assert said(chat, "link.year")


async def test_photo_without_a_qr_code(chat_factory, sessions):
    chat = chat_factory(3006)
    await chat.command("start")
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "PNG")
    await chat.photo(buf.getvalue())
    assert said(chat, "link.no_qr") and chat.has_button("Hủy")
    await chat.photo(b"not an image at all")
    assert said(chat, "link.no_qr")


async def test_photo_of_a_qr_code_that_is_not_ours(chat_factory, sessions):
    chat = chat_factory(3007)
    await chat.command("start")
    await chat.photo(qr_png("https://example.com/menu?table=4"))
    assert said(chat, "link.qr_not_ours")
    assert await audit(sessions, "link_attempt") == []


# ---------------------------------------------------------------- checks before lookup


async def test_one_wrong_character_gets_a_specific_answer_and_no_lookup(chat_factory, sessions, runtime):
    hoa = await add_resident(sessions)
    wrong = hoa.code[:5] + ("A" if hoa.code[5] != "A" else "B") + hoa.code[6:]
    chat = chat_factory(3008)
    await chat.command("start")
    await chat.send(codes.display(wrong))
    assert said(chat, "link.err_check")
    assert await runtime.store.count("link:miss:telegram:3008") == 0  # not counted as an unknown code
    [entry] = await audit(sessions, "link_attempt")
    assert (entry.outcome, entry.resident_id, entry.details) == ("check_failed", None, {})
    await chat.send(hoa.code[:10])
    assert said(chat, "link.err_length")
    await chat.send("tôi không có thẻ")
    assert said(chat, "link.err_chars") and STATION_PHONE in chat.text


async def test_twenty_unknown_codes_an_hour_then_refused(chat_factory, sessions, runtime):
    hoa = await add_resident(sessions)
    chat = chat_factory(3009)
    await chat.command("start")
    for _ in range(MAX_MISSES):
        await chat.send(codes.new_code())
        assert said(chat, "link.unknown")
    assert await runtime.store.count("link:miss:telegram:3009") == MAX_MISSES
    assert len(await audit(sessions, "link_attempt", "unknown_code")) == MAX_MISSES
    await chat.command("start", hoa.code)  # even a real code is refused now
    assert said(chat, "link.too_many") and STATION_PHONE in chat.text
    assert not said(chat, "link.year")
    other = chat_factory(3010)  # the limit is per account
    await other.command("start", hoa.code)
    assert said(other, "link.year")


# ---------------------------------------------------------------- ownership


async def test_five_wrong_years_lock_the_code_for_that_account_only(chat_factory, sessions, runtime):
    hoa = await add_resident(sessions)
    chat = chat_factory(3011)
    await chat.command("start", hoa.code)
    await chat.send("năm ngoái")  # not a year: asked again, not counted
    assert said(chat, "link.year_invalid")
    for i in range(1, MAX_WRONG_YEARS):
        await chat.send(str(1950 + i))
        assert said(chat, "link.wrong_year") and str(MAX_WRONG_YEARS - i) in chat.text
    await chat.send("1960")
    assert said(chat, "link.locked") and STATION_PHONE in chat.text
    assert len(await audit(sessions, "link_attempt", "wrong_year")) == MAX_WRONG_YEARS
    assert len(await audit(sessions, "link_lock", "locked")) == 1

    await chat.command("start", hoa.code)  # the 6th attempt
    assert said(chat, "link.locked") and STATION_PHONE in chat.text
    assert not said(chat, "link.year")
    await chat.send("1948")  # the right year now changes nothing
    assert await active_links(sessions) == []
    for entry in await audit(sessions, "link_attempt"):
        assert "1948" not in str(entry.details) and hoa.code not in str(entry.details)

    other = chat_factory(3012)
    await link_via_start(other, hoa, "Con")
    assert [lk.account_id for lk in await active_links(sessions, hoa.id)] == [addr(3012)]


async def test_a_right_year_resets_the_wrong_year_count(chat_factory, sessions, runtime):
    hoa = await add_resident(sessions)
    chat = chat_factory(3013)
    await chat.command("start", hoa.code)
    await chat.send("1949")
    assert await runtime.store.count(f"link:year:telegram:3013:{hoa.id}") == 1
    await chat.send("12/03/1948")
    assert said(chat, "link.relation")
    assert await runtime.store.count(f"link:year:telegram:3013:{hoa.id}") == 0


async def test_code_of_another_ward_links_and_shows_the_ward(chat_factory, sessions):
    tam = await add_resident(sessions, "Lê Văn Tâm", 1961, "M", ward="Phường Bến Nghé")
    chat = chat_factory(3014)
    await chat.command("start", tam.code)
    assert "Phường Bến Nghé" in chat.text
    await chat.send("1961")
    await chat.press("Người thân khác")
    await chat.press("Đồng ý")
    assert "Phường Bến Nghé" in chat.text and "ông Lê Văn Tâm" in chat.text
    assert len(await active_links(sessions, tam.id)) == 1


# ---------------------------------------------------------------- consent


async def test_declining_consent_stores_nothing_but_the_attempt(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3015)
    await link_via_start(chat, hoa, consent=False)
    await chat.press("Không đồng ý")
    assert said(chat, "link.declined")
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Link)) == 0
        assert await s.scalar(select(func.count()).select_from(Consent)) == 0
        assert await s.scalar(select(func.count()).select_from(Account)) == 0
    assert len(await audit(sessions, "link_attempt", "declined")) == 1


async def test_back_from_consent_returns_to_relation(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3016)
    await link_via_start(chat, hoa, consent=False)
    await chat.press("Quay lại")
    assert said(chat, "link.relation")
    await chat.press("Vợ hoặc chồng")
    await chat.press("Đồng ý")
    assert [lk.relation for lk in await active_links(sessions)] == ["spouse"]


async def test_unknown_text_at_every_step_gets_an_answer(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3017)
    await chat.command("start", hoa.code)
    for text in ("???", "🙂"):
        await chat.send(text)
        assert chat.texts and all(chat.texts)
    await chat.send("1948")
    await chat.send("hàng xóm")  # not a relation
    assert said(chat, "common.not_understood") and said(chat, "link.relation")
    await chat.sticker()  # a kind reply naming what to press, not "not understood" (issue 14)
    assert said(chat, "link.relation") and not said(chat, "common.not_understood")
    assert said(chat, "input.sticker") or said(chat, "input.other")  # as the adapter names it
    await chat.command("trogiup")
    assert STATION_PHONE in chat.text


async def test_language_switch_mid_flow_repeats_the_question_in_english(chat_factory, sessions):
    hoa = await add_resident(sessions)
    chat = chat_factory(3018)
    await chat.command("start", hoa.code)
    await chat.command("ngonngu")
    assert said(chat, "link.year", "en") and "Nguyễn T. H." in chat.text
    await chat.send("1948")
    assert said(chat, "link.relation", "en") and chat.has_button("My child")
    await chat.press("My parent")
    await chat.press("I agree")
    assert said(chat, "link.done", "en")
    assert [lk.relation for lk in await active_links(sessions)] == ["parent"]


# ---------------------------------------------------------------- several accounts


async def test_accounts_linked_before_get_a_notice_in_their_language(chat_factory, sessions, api):
    hoa = await add_resident(sessions)
    first = chat_factory(3019)
    await first.command("ngonngu", "en")
    await link_via_start(first, hoa, "My parent", locale="en")
    before = len(api.sent(3019))
    second = chat_factory(3020)
    await link_via_start(second, hoa, "Con")
    notices = [c.params["text"] for c in api.sent(3019)[before:]]
    opening = locales.t("en", "link.notice").split("{")[0]
    assert len(notices) == 1 and notices[0].startswith(opening) and "Nguyễn Thị Hoa" in notices[0]
    assert not any(opening in t for t in second.texts)


async def test_same_resident_at_the_same_moment_never_exceeds_three(chat_factory, sessions):
    hoa = await add_resident(sessions)
    for uid in (3021, 3022):
        await link_via_start(chat_factory(uid), hoa, "Con")
    racers = [chat_factory(3023), chat_factory(3024)]
    for chat in racers:
        await link_via_start(chat, hoa, "Con", consent=False)
    await asyncio.gather(*(agree(chat) for chat in racers))

    links = await active_links(sessions, hoa.id)
    assert len(links) == 3 and len({lk.account_id for lk in links}) == 3
    outcomes = sorted("full" if said(c, "link.full") else "linked" if said(c, "link.done") else "?" for c in racers)
    assert outcomes == ["full", "linked"]
    assert len(await audit(sessions, "link", "full")) == 1

    late = chat_factory(3025)  # a 4th account is told before any question
    await late.command("start", hoa.code)
    assert said(late, "link.full") and not said(late, "link.year")


async def test_two_accounts_at_the_same_moment_both_link_once(chat_factory, sessions):
    hoa = await add_resident(sessions)
    racers = [chat_factory(3026), chat_factory(3027)]
    for chat in racers:
        await link_via_start(chat, hoa, "Con", consent=False)
    await asyncio.gather(*(agree(chat) for chat in racers))
    assert sorted(lk.account_id for lk in await active_links(sessions, hoa.id)) == [addr(3026), addr(3027)]


async def test_the_same_update_twice_links_once(chat_factory, sessions, api):
    hoa = await add_resident(sessions)
    chat = chat_factory(3028)
    await link_via_start(chat, hoa)
    sent = len(api.sent(3028))
    await chat.redeliver(chat.last_update)
    assert len(api.sent(3028)) == sent
    assert len(await active_links(sessions)) == 1
    await chat.command("start", hoa.code)  # and linking again is recognised, not doubled
    assert said(chat, "link.already")
    assert len(await active_links(sessions)) == 1


# ---------------------------------------------------------------- families


async def test_grandmother_links_four_and_switches_between_them(chat_factory, sessions, runtime):
    family = [
        await add_resident(sessions, "Nguyễn Thị Hoa", 1948, "F"),
        await add_resident(sessions, "Trần Văn Minh", 1976, "M"),
        await add_resident(sessions, "Trần Thị Lan", 1980, "F"),
        await add_resident(sessions, "Trần Gia Bảo", 2022, "M"),
    ]
    chat = chat_factory(3029, "Hoa")
    await link_via_start(chat, family[0], "Tôi")
    await chat.press("Để sau")
    assert chat.has_button("Người thân") and not chat.has_button("Liên kết thẻ")
    await chat.command("start")  # a linked account is greeted at the menu, not asked for a code
    assert chat.has_button("Người thân") and not said(chat, "link.code")
    for person, relation in zip(family[1:], ("Con", "Con", "Người thân khác"), strict=True):
        await chat.command("nguoithan")
        await chat.press("Thêm người thân")
        assert said(chat, "link.code")
        await chat.photo(qr_png(deep_link(person.code)))
        await chat.send(proof(person))
        await chat.press(relation)
        await chat.press("Đồng ý")
        assert said(chat, "link.done")
        await chat.press("Để sau")
    links = await active_links(sessions, account_id=3029)
    assert [lk.resident_id for lk in links] == [p.id for p in family]

    await chat.command("nguoithan")
    assert [b for b in chat.keyboard() if b in {p.full_name for p in family}] == [p.full_name for p in family]
    assert "cháu Trần Gia Bảo" in chat.text and "anh Trần Văn Minh" in chat.text
    await chat.press("Trần Thị Lan")
    assert said(chat, "family.selected") and "chị Trần Thị Lan" in chat.text
    assert (await state_of(runtime, 3029))["person_id"] == family[2].id
    await chat.press("Để sau")
    await chat.command("nguoithan")
    line = next(x for x in chat.text.splitlines() if x.startswith("3."))
    assert "đang chọn" in line
    await chat.send("1")  # the number in the list works too
    assert (await state_of(runtime, 3029))["person_id"] == family[0].id
    await chat.command("nguoithan")
    await chat.send("9")  # not in the list: asked again
    assert said(chat, "common.not_understood") and said(chat, "family.list")


async def test_unlink_after_confirmation(chat_factory, sessions, runtime):
    hoa = await add_resident(sessions)
    bao = await add_resident(sessions, "Trần Gia Bảo", 2022, "M")
    chat = chat_factory(3030)
    await link_via_start(chat, hoa)
    await link_via_start(chat, bao, "Người thân khác")
    await chat.command("huylienket")
    assert chat.has_button("Nguyễn Thị Hoa") and chat.has_button("Trần Gia Bảo")
    await chat.press("Trần Gia Bảo")
    assert said(chat, "family.unlink_confirm") and chat.has_button("Không, giữ lại")
    await chat.press("Không, giữ lại")
    assert len(await active_links(sessions, account_id=3030)) == 2

    await chat.command("huylienket")
    await chat.send("2")
    await chat.press("Có, hủy liên kết")
    assert said(chat, "family.unlinked")
    assert [lk.resident_id for lk in await active_links(sessions, account_id=3030)] == [hoa.id]
    assert "person_id" not in await state_of(runtime, 3030)  # Bảo was selected
    async with sessions() as s:
        consent = (await s.execute(select(Consent).where(Consent.resident_id == bao.id))).scalar_one()
    assert consent.withdrawn_at is not None
    [entry] = await audit(sessions, "unlink")
    assert (entry.actor_id, entry.resident_id) == (addr(3030), bao.id)

    await chat.command("huylienket")  # one left: straight to the confirmation
    assert said(chat, "family.unlink_confirm")
    await chat.press("Có")
    assert await active_links(sessions, account_id=3030) == []
    await chat.command("huylienket")
    assert said(chat, "family.none") and said(chat, "link.code")


# ---------------------------------------------------------------- staff and storage


async def test_staff_unlink_by_code_or_id(chat_factory, sessions, runtime, capsys):
    import argparse

    from bot.cli_links import add_unlink

    hoa = await add_resident(sessions)
    for uid in (3031, 3032):
        await link_via_start(chat_factory(uid), hoa, "Con")
    parser = argparse.ArgumentParser()
    add_unlink(parser.add_subparsers())

    args = parser.parse_args(["unlink", codes.display(hoa.code).lower()])
    assert await args.func(args, runtime) == 0
    assert await active_links(sessions, hoa.id) == []
    out = capsys.readouterr().out
    assert "2" in out and hoa.code not in out and "Hoa" not in out
    [entry] = await audit(sessions, "unlink")
    assert (entry.actor_kind, entry.resident_id, entry.details) == ("cli", hoa.id, {"links": 2})

    args = parser.parse_args(["unlink", str(hoa.id)])
    assert await args.func(args, runtime) == 0
    for unknown in (str(hoa.id + 1000), "Nguyễn Thị Hoa", codes.new_code()):
        args = parser.parse_args(["unlink", unknown])
        assert await args.func(args, runtime) == 1


async def test_unreachable_database_is_unavailable():
    import pytest

    from dialogs.ports import Unavailable
    from storage.db import make_engine, make_sessions
    from storage.people import People

    engine = make_engine("postgresql://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(Unavailable):
            await People(make_sessions(engine)).linked(1)
    finally:
        await engine.dispose()


async def test_link_cap_holds_under_a_burst_of_simultaneous_links(sessions, clean_db):
    """Straight at the store, so every transaction starts together: the row lock is all
    that keeps the count at three and each account linked once."""
    from datetime import datetime

    from bot.config import TIME_ZONE
    from storage.people import MAX_ACCOUNTS, People

    hoa = await add_resident(sessions)
    people, now = People(sessions), datetime.now(TIME_ZONE)
    accounts = [3100 + i % 6 for i in range(12)]  # six accounts, each trying twice at once
    outcomes = await asyncio.gather(
        *(people.link(addr(a), "vi", hoa.id, "child", "2026-01", now) for a in accounts)
    )
    links = await active_links(sessions, hoa.id)
    assert len(links) == MAX_ACCOUNTS == len({lk.account_id for lk in links})
    assert sorted(o.status for o in outcomes).count("linked") == MAX_ACCOUNTS
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Consent)) == MAX_ACCOUNTS
