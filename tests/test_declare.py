"""The health declaration through the real Application in process (issue #5)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

import locales
from bot.config import TIME_ZONE
from bot.idle import idle_store, remind_idle
from dialogs import codes
from dialogs.ports import Submission
from dialogs.questionnaire import VERSION
from storage.db import make_engine, make_sessions
from storage.models import Account, AuditEntry, Declaration, Link, Resident
from tests.chat import Chat, addr

TODAY = datetime.now(TIME_ZONE).date()


def born(age: int) -> date:
    return date(TODAY.year - age, 1, 15)


# ---------------------------------------------------------------- people, made with the ORM


async def family(sessions, account_id: int, *people: dict) -> list[Resident]:
    """An account and its linked residents: dicts of Resident fields plus `relation`."""
    rows = []
    async with sessions.begin() as s:
        s.add(Account(address=addr(account_id), locale="vi"))
        await s.flush()
        for spec in people:
            spec = dict(spec)
            relation = spec.pop("relation", "self")
            b = spec.pop("birth_date")
            row = Resident(code=codes.new_code(), ward="Phường 27", birth_date=b, birth_year=b.year, **spec)
            s.add(row)
            await s.flush()
            s.add(Link(account_id=addr(account_id), resident_id=row.id, relation=relation,
                       consent_version="test", consented_at=datetime.now(TIME_ZONE)))
            rows.append(row)
    return rows


LAN = dict(full_name="Nguyễn Thị Lan", birth_date=born(40), sex="F", address="45 Lê Lợi, Phường 27")
BA_HOA = dict(full_name="Trần Thị Hoa", birth_date=born(70), sex="F", insurance_code="HT3797915410033")
CHAU_AN = dict(full_name="Lê Minh An", birth_date=born(3), sex="M", relation="grandparent",
               insurance_code="TE1797915410044")


async def rows(sessions, resident_id: int | None = None) -> list[Declaration]:
    q = select(Declaration).order_by(Declaration.resident_id, Declaration.version)
    if resident_id is not None:
        q = q.where(Declaration.resident_id == resident_id)
    async with sessions() as s:
        return list((await s.execute(q)).scalars())


async def state_of(runtime, uid: int) -> dict:
    return await runtime.store.load(addr(uid))


def said(chat: Chat, msg_id: str) -> bool:
    opening = locales.t("vi", msg_id).split("{")[0].strip()
    return any(opening in text for text in chat.texts)


# ---------------------------------------------------------------- a whole declaration

# (how, what): press a button, send text, or share the contact. Lan, 40, declares for herself.
LAN_SCRIPT = [
    ("press", "Đúng"),  # identity
    ("contact", "84912345678"),  # phone
    ("press", "Đúng"),  # registry address
    ("press", "Buôn bán"),
    ("send", "kinh"),
    ("send", "nhóm máu O"),
    ("send", "dn 479 791 541 0033"),
    ("send", "1m58"),
    ("send", "52,5 ký"),
    ("send", "12/8"),
    ("send", "ko"),  # smoking
    ("press", "Tăng huyết áp"),
    ("press", "Đái tháo đường"),
    ("press", "Xong"),
    ("send", "Penicillin 💊"),
    ("send", "hai"),  # pregnancies
    ("send", "2 đứa"),  # children
    ("press", "3"),  # COVID-19 doses
]

LAN_ANSWERS = {
    "identity": "ok",
    "phone": "+84912345678",
    "address": "45 Lê Lợi, Phường 27",
    "occupation": "trader",
    "ethnicity": "kinh",
    "blood_group": "O",
    "insurance": "DN4797915410033",
    "height": 158.0,
    "weight": 52.5,
    "blood_pressure": [120, 80],
    "smoking": "no",
    "conditions": ["htn", "diabetes"],
    "allergies": "Penicillin 💊",
    "pregnancies": 2,
    "children": 2,
    "covid_doses": 3,
}

# A wrong first try for each step of LAN_SCRIPT (None: no wrong try there).
LAN_WRONG = [
    "có lẽ", "12345", "ab", "x", "!!!", "Z", "123", "3m", "500kg", "80/120", "hmm",
    "xyz", None, None, "?", "25", "21", "mười lăm",
]


async def run(chat: Chat, script) -> None:
    for how, what in script:
        if how == "press":
            await chat.press(what)
        elif how == "contact":
            await chat.share_contact(what)
        else:
            await chat.send(what)
        assert chat.last, (how, what)


async def to_review(chat: Chat, script=LAN_SCRIPT) -> None:
    await chat.command("khaibao")
    await run(chat, script)
    assert said(chat, "decl.review"), chat.texts
    assert chat.has_button("Xác nhận gửi") and chat.has_button("Sửa")


async def test_full_declaration_saves_typed_columns_and_answers(chat_factory, sessions, runtime):
    [lan] = await family(sessions, 5001, LAN)
    chat = chat_factory(5001)
    await chat.command("khaibao")
    assert "chị Nguyễn Thị Lan" in chat.text  # named with an honorific
    assert chat.has_button("Đúng") and chat.has_button("Sửa") and chat.has_button("Quay lại")
    await run(chat, LAN_SCRIPT[:1])
    contact = chat.last[-1].params["reply_markup"]["keyboard"][0][0]
    assert contact.get("request_contact") is True  # her own number: one tap
    await run(chat, LAN_SCRIPT[1:9])
    assert "21" in chat.text and "bình thường" in chat.text  # BMI told after the weight
    await run(chat, LAN_SCRIPT[9:])
    assert said(chat, "decl.review") and "158 cm" in chat.text and "52,5 kg" in chat.text
    assert await rows(sessions) == []  # nothing saved before confirmation

    await chat.press("Xác nhận gửi")
    assert said(chat, "decl.saved")
    [row] = await rows(sessions)
    assert row.resident_id == lan.id and row.version == 1
    assert (row.submitted_by, row.relation, row.questionnaire_version) == (addr(5001), "self", VERSION)
    assert row.started_at is not None and row.submitted_at >= row.started_at
    assert (row.height_cm, row.weight_kg, row.bmi) == (Decimal("158.0"), Decimal("52.5"), Decimal("21.0"))
    assert (row.systolic, row.diastolic, row.pregnancies, row.children, row.covid_doses) == (120, 80, 2, 2, 3)
    assert row.answers == LAN_ANSWERS
    async with sessions() as s:
        [entry] = (await s.execute(select(AuditEntry).where(AuditEntry.action == "declaration.submit"))).scalars()
    assert entry.resident_id == lan.id and entry.actor_id == addr(5001) and entry.details["version"] == 1
    assert not {"52.5", "158", "120", "Penicillin"} & set(map(str, entry.details.values()))
    state = await state_of(runtime, 5001)
    assert "declare" not in state and state["node"] == "home"


async def test_every_answer_first_given_wrongly(chat_factory, sessions, runtime):
    await family(sessions, 5002, LAN)
    chat = chat_factory(5002)
    await chat.command("khaibao")
    for (how, what), wrong in zip(LAN_SCRIPT, LAN_WRONG, strict=True):
        if wrong is not None:
            before = (await state_of(runtime, 5002))["node"]
            await chat.send(wrong)
            assert chat.last and (await state_of(runtime, 5002))["node"] == before, (wrong, chat.texts)
            assert chat.has_button("Quay lại")  # asked again, with its buttons
        await run(chat, [(how, what)])
    await chat.sticker()
    await chat.location()
    await chat.send("ừ " * 2000)
    assert said(chat, "decl.review") or chat.has_button("Xác nhận gửi")
    await chat.press("Xác nhận gửi")
    [row] = await rows(sessions)
    assert row.answers == LAN_ANSWERS


async def test_optional_question_offers_skip_after_three_failed_tries(chat_factory, sessions):
    await family(sessions, 5003, LAN)
    chat = chat_factory(5003)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:6])  # up to the insurance number
    for _ in range(2):
        await chat.send("không nhớ số")
        assert not chat.has_button("Bỏ qua")
    await chat.sticker()
    assert chat.has_button("Bỏ qua") and said(chat, "decl.may_skip")
    await chat.press("Bỏ qua")
    assert "Chiều cao" in chat.text
    await run(chat, LAN_SCRIPT[7:])
    await chat.press("Xác nhận gửi")
    [row] = await rows(sessions)
    assert row.answers["insurance"] is None


async def test_unusual_values_are_confirmed_once(chat_factory, sessions):
    await family(sessions, 5004, LAN)
    chat = chat_factory(5004)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:8])  # through the height 1m58
    await chat.send("180")  # BMI 72
    assert said(chat, "decl.sure_bmi") and chat.has_button("Có")
    await chat.press("Không")
    assert "Cân nặng" in chat.text  # asked again
    await chat.send("30")  # BMI 12.0
    assert said(chat, "decl.sure_bmi")
    await chat.send("vâng")
    assert "Huyết áp" in chat.text
    await run(chat, LAN_SCRIPT[9:15])
    await chat.send("1")  # pregnancies
    await chat.send("3")  # children > pregnancies
    assert said(chat, "decl.sure_children")
    await chat.press("Có")
    await chat.press("3")
    await chat.press("Xác nhận gửi")
    [row] = await rows(sessions)
    assert (row.weight_kg, row.bmi, row.pregnancies, row.children) == (Decimal("30.0"), Decimal("12.0"), 1, 3)


async def test_edit_at_review_reasks_one_answer_and_returns(chat_factory, sessions, runtime):
    await family(sessions, 5005, LAN)
    chat = chat_factory(5005)
    await to_review(chat)
    await chat.press("Sửa")
    assert chat.has_button("Cân nặng") and chat.has_button("Số lần mang thai")
    assert not chat.has_button("Vắc-xin cúm")  # not asked: not listed
    await chat.press("Cân nặng")
    assert chat.has_button("Giữ nguyên")
    await chat.send("60")
    assert said(chat, "decl.review") and "60 kg" in chat.text
    # Correcting the sex takes away the pregnancy questions.
    await chat.press("Sửa")
    await chat.press("Thông tin cá nhân")
    await chat.press("Sửa")
    await chat.send("nguyễn văn lan")
    await chat.send("15/01/" + str(TODAY.year - 40))
    await chat.press("Nam")
    assert said(chat, "decl.review") and "anh Nguyễn Văn Lan" in chat.text
    await chat.press("Xác nhận gửi")
    [row] = await rows(sessions)
    assert row.weight_kg == Decimal("60.0") and row.bmi == Decimal("24.0")
    assert row.answers["sex"] == "M" and row.answers["full_name"] == "Nguyễn Văn Lan"
    assert "pregnancies" not in row.answers and row.pregnancies is None


async def test_back_goes_to_the_previous_question_with_its_answer_kept(chat_factory, sessions):
    await family(sessions, 5006, LAN)
    chat = chat_factory(5006)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:9])
    await chat.press("Quay lại")
    assert "Cân nặng" in chat.text and chat.has_button("Giữ nguyên")
    await chat.press("Quay lại")
    assert "Chiều cao" in chat.text
    await chat.press("Giữ nguyên")
    await chat.press("Giữ nguyên")
    assert "Huyết áp" in chat.text


async def test_survives_a_bot_restart_mid_way(chat_factory, sessions, runtime, api):
    from bot.run import close_channels, open_channels
    from bot.runtime import open_runtime
    from tests.conftest import InProcess
    from tests.standin import RecordingRequest

    await family(sessions, 5007, LAN)
    chat = chat_factory(5007)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:10])

    rt2 = await open_runtime(runtime.settings, upgrade=False)  # a new process: nothing shared but the stores
    channels = await open_channels(rt2, RecordingRequest(api), RecordingRequest(api))
    second = InProcess(rt2, channels)
    try:

        async def deliver(update: dict) -> None:
            assert await second.deliver(update)

        again = Chat(api, 5007, deliver)
        await again.command("khaibao")  # coming back mid-way
        assert again.has_button("Tiếp tục") and again.has_button("Làm lại")
        await again.press("Tiếp tục")
        assert "hút thuốc" in again.text
        await run(again, LAN_SCRIPT[10:])
        await again.press("Xác nhận gửi")
    finally:
        await close_channels(channels)
        await rt2.close()
    [row] = await rows(sessions)
    assert row.answers == LAN_ANSWERS


async def test_start_again_discards_the_draft(chat_factory, sessions, runtime):
    await family(sessions, 5008, LAN)
    chat = chat_factory(5008)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:5])
    await chat.press("Hủy")
    assert "declare" in await state_of(runtime, 5008)  # kept: nothing said is lost
    assert chat.has_button("Tiếp tục khai báo") and not chat.has_button("Khai báo sức khỏe")
    await chat.command("start")  # coming back: the menu offers to go on
    assert chat.has_button("Tiếp tục khai báo")
    await chat.press("Tiếp tục khai báo")
    assert chat.has_button("Tiếp tục") and chat.has_button("Làm lại")
    await chat.press("Làm lại")
    assert said(chat, "decl.intro")
    assert (await state_of(runtime, 5008))["declare"]["answers"] == {}


async def test_grandchild_by_grandmother_gets_questions_for_a_small_child(chat_factory, sessions):
    _, an = await family(sessions, 5009, BA_HOA, CHAU_AN)
    chat = chat_factory(5009)
    await chat.command("khaibao")
    assert chat.has_button("Trần Thị Hoa") and chat.has_button("Lê Minh An")
    await chat.press("Lê Minh An")
    assert "cháu Lê Minh An" in chat.text
    await chat.press("Đúng")
    contact = chat.last[-1].params["reply_markup"]["keyboard"][0][0]
    assert not contact.get("request_contact")  # not her own number to share
    script = [
        ("send", "0987 654 321"),
        ("send", "12 Nguyễn Trãi, Phường 27"),  # no address in the register: typed
        ("press", "Kinh"),
        ("press", "Không biết"),
        ("send", "95 cm"),
        ("send", "14,5"),
        ("press", "Không có"),
        ("press", "Không"),
        ("press", "0"),
        ("press", "Có"),  # expanded programme complete
    ]
    asked = []
    for step in script:
        asked.append(chat.text)
        await run(chat, [step])
    assert said(chat, "decl.review")
    assert any("Tiêm chủng mở rộng" in t for t in asked)
    assert not any("mang thai" in t or "hút thuốc" in t or "Nghề nghiệp" in t for t in asked)
    await chat.press("Xác nhận gửi")
    [row] = await rows(sessions, an.id)
    assert row.relation == "grandparent" and row.submitted_by == addr(5009)
    assert row.answers["epi_complete"] == "yes" and row.answers["conditions"] == []
    assert row.answers["blood_group"] == "unknown" and row.answers["allergies"] == "none"
    assert not {"pregnancies", "children", "smoking", "blood_pressure", "insurance", "flu_shot"} & set(row.answers)
    assert row.pregnancies is None and row.systolic is None and row.covid_doses == 0


async def test_database_down_at_confirmation_is_saved_once_when_it_returns(chat_factory, sessions, runtime, api):
    from bot.turns import sweep

    await family(sessions, 5010, LAN)
    chat = chat_factory(5010)
    await to_review(chat)
    decl = runtime.services.declarations
    working = decl.sessions
    dead = make_engine("postgresql://postgres@127.0.0.1:1/nothing")
    decl.sessions = make_sessions(dead)
    try:
        before = await state_of(runtime, 5010)
        await chat.press("Xác nhận gửi")
        assert said(chat, "decl.save_later")  # told it will be saved, no need to press again
        kept = await state_of(runtime, 5010)
        assert kept["declare"] == before["declare"] and kept["node"] == "declare.review"
        assert await runtime.store.retry_waiting(-1) == [addr(5010)]
        sent = len(api.sent(5010))
        assert await sweep(runtime, {}, retry_after=-1) == 1  # still down: tried, nothing said
        assert len(api.sent(5010)) == sent and await runtime.store.retry_waiting(-1) == [addr(5010)]
    finally:
        decl.sessions = working
        await dead.dispose()
    assert await rows(sessions) == []
    await sweep(runtime, {}, retry_after=-1)  # the database is back: saved, and the person told
    [row] = await rows(sessions)
    assert row.answers == LAN_ANSWERS
    opening = locales.catalog("vi")["decl.saved"].split("{")[0]  # "Đã gửi khai báo sức khỏe của "
    assert any(opening in (c.params.get("text") or "") for c in api.sent(5010)[sent:])
    assert await runtime.store.retry_waiting(-1) == []
    await sweep(runtime, {}, retry_after=-1)
    assert len(await rows(sessions)) == 1  # once


async def test_double_tap_on_confirm_saves_once(chat_factory, sessions):
    await family(sessions, 5011, LAN)
    chat = chat_factory(5011)
    await to_review(chat)
    label = chat.button("Xác nhận gửi")
    await asyncio.gather(chat.send(label), chat.send(label))
    assert len(await rows(sessions)) == 1


async def test_same_submission_key_concurrently_saves_once_and_versions_stay_unique(runtime, sessions):
    [lan] = await family(sessions, 5012, LAN)
    decl = runtime.services.declarations

    def sub(key: str) -> Submission:
        return Submission(lan.id, addr(5012), key, VERSION, None, {"height": 150.0}, {"height_cm": 150.0})

    results = await asyncio.gather(*(decl.submit(sub("same")) for _ in range(4)))
    assert sorted(results) == [("duplicate", 1)] * 3 + [("saved", 1)]
    results = await asyncio.gather(*(decl.submit(sub(f"k{i}")) for i in range(6)))
    assert sorted(v for _, v in results) == [2, 3, 4, 5, 6, 7]
    assert [r.version for r in await rows(sessions)] == list(range(1, 8))
    assert (await decl.submit(Submission(lan.id, addr(999), "other", VERSION, None, {}, {})))[0] == "not_linked"


async def test_update_keeping_every_answer_makes_an_equal_version_2(chat_factory, sessions):
    [lan] = await family(sessions, 5013, LAN)
    chat = chat_factory(5013)
    await to_review(chat)
    await chat.press("Xác nhận gửi")
    await chat.command("capnhat")
    kept = 0
    while chat.has_button("Giữ nguyên"):
        await chat.press("Giữ nguyên")
        kept += 1
    assert kept == len(LAN_ANSWERS)
    assert said(chat, "decl.review")
    await chat.press("Xác nhận gửi")
    v1, v2 = await rows(sessions, lan.id)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.answers == v1.answers == LAN_ANSWERS
    assert (v2.bmi, v2.systolic) == (v1.bmi, v1.systolic)

    await chat.command("hoso")
    assert said(chat, "decl.record") and "lần 2" in chat.text and "158 cm" in chat.text


async def test_broadcast_button_and_menu_item(chat_factory, sessions):
    ba, an = await family(sessions, 5014, BA_HOA, CHAU_AN)
    chat = chat_factory(5014)
    await chat.send("xin chào")
    assert chat.has_button("Khai báo sức khỏe")
    from tests.standin import callback_update

    await chat.redeliver(callback_update(chat.api, 5014, f"declare:{an.id}"))
    assert "cháu Lê Minh An" in chat.text and said(chat, "q.identity")
    await chat.redeliver(callback_update(chat.api, 5014, "declare:999999"))  # not linked
    assert said(chat, "decl.resume")


async def test_idle_declaration_is_reminded_once(chat_factory, sessions, runtime, app, api):
    await family(sessions, 5015, LAN)
    chat = chat_factory(5015)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:3])
    store = idle_store(runtime)
    assert await store.redis.ttl(store.name) > 0  # the set itself expires if left alone
    now = datetime.now(TIME_ZONE)
    assert await remind_idle(runtime, app.channels, now) == 0  # not idle yet
    later = now + timedelta(hours=25)
    sent_before = len(api.sent(5015))
    assert await remind_idle(runtime, app.channels, later) == 1
    reminder = api.sent(5015)[-1].params["text"]
    # by relation, not by name: the draft holds no registry copy (issue 13)
    assert "cho chính bạn" in reminder and "Lan" not in reminder and len(api.sent(5015)) == sent_before + 1
    assert await remind_idle(runtime, app.channels, later + timedelta(hours=30)) == 0  # once
    assert (await state_of(runtime, 5015))["node"] == "declare.q.occupation"  # stayed where it was

    await run(chat, LAN_SCRIPT[3:])  # activity again, then finished: off the list
    await chat.press("Xác nhận gửi")
    assert await store.redis.zscore(store.name, "5015:5015") is None


@pytest.mark.parametrize("text", ["🙂" * 4000, "\u200b\u200b", "/", "🙂 🙂", "....", "\U0001f3f3\ufe0f\u200d\U0001f308"])
async def test_odd_input_at_every_question_is_refused_and_answered(chat_factory, sessions, runtime, text):
    await family(sessions, 5016, LAN)
    chat = chat_factory(5016)
    await chat.command("khaibao")
    for step in LAN_SCRIPT:
        before = (await state_of(runtime, 5016))["node"]
        await chat.send(text)
        assert chat.last and (await state_of(runtime, 5016))["node"] == before
        await run(chat, [step])
    assert chat.has_button("Xác nhận gửi")


async def test_idle_loop_stops_when_told(runtime, app):
    from bot.idle import idle_loop

    stop = asyncio.Event()
    task = asyncio.create_task(idle_loop(runtime, app.channels, stop, every=0.05))
    await asyncio.sleep(0.12)
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_in_english_with_decimal_points(chat_factory, sessions):
    await family(sessions, 5017, LAN)
    chat = chat_factory(5017)
    await chat.command("ngonngu", "en")
    await chat.command("khaibao")
    assert "Is this correct?" in chat.text and chat.has_button("Correct")
    script = [("press", "Correct"), ("send", "0912345678"), ("press", "Correct"), ("send", "buon ban")]
    script += LAN_SCRIPT[4:8] + [
        ("send", "52.5 kg")] + LAN_SCRIPT[9:11] + [("press", "High blood pressure"), ("press", "Diabetes"),
                                                    ("press", "Done")] + LAN_SCRIPT[14:]
    await run(chat, script)
    assert "Please check" in chat.text and "52.5 kg" in chat.text
    await chat.press("Confirm and send")
    [row] = await rows(sessions)
    assert row.answers == {**LAN_ANSWERS, "phone": "+84912345678"}
