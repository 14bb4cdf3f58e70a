"""Issue 13: a found card against many accounts, the owner defending the record, staff
lifting a lock; driven through the real Application in process and the real CLI."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime

import asyncpg
import pytest
from sqlalchemy import select

import locales
from bot.cli import build_parser
from bot.terminal import set_operator, who_ran
from dialogs import codes
from dialogs.draft import DRAFT
from dialogs.link import CARD_MAX_ACCOUNTS, CARD_MAX_WRONG, CARD_MAX_WRONG_MONTH, MAX_WRONG_YEARS
from dialogs.text import clean, visible
from storage import code_vault, registry
from storage.models import AuditEntry, CardLock, Resident
from tests.chat import addr
from tests.conftest import CODE_SECRET
from tests.test_cli import healthbot
from tests.test_link import STATION_PHONE, active_links, add_resident, link_via_start, said

BORN = date(1948, 3, 5)
LOCKED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNER = 4000


async def cli(runtime, *argv: str) -> int:
    """A command as `healthbot` runs it (bot.cli._command), operator name included."""
    args = build_parser().parse_args(list(argv))
    set_operator(args.operator)
    try:
        return await args.func(args, runtime)
    finally:
        set_operator(None)


async def hoa_born(sessions) -> Resident:
    async with sessions.begin() as s:
        row = Resident(code=codes.new_code(), ward="Phường 27",
                       full_name="Nguyễn Thị Hoa", birth_year=BORN.year, birth_date=BORN, sex="F")
        s.add(row)
    return row


async def audit(sessions, action: str) -> list[AuditEntry]:
    async with sessions() as s:
        return list((await s.execute(select(AuditEntry).where(AuditEntry.action == action)
                                     .order_by(AuditEntry.id))).scalars())


def wrong_dates(n: int) -> list[str]:
    return [f"{day:02d}/03/1948" for day in range(10, 10 + n)]


# ---------------------------------------------------------------- proof


async def test_the_full_birth_date_is_asked_where_the_registry_has_it(chat_factory, sessions, runtime):
    hoa = await hoa_born(sessions)
    chat = chat_factory(4101)
    await chat.command("start", hoa.code)
    assert said(chat, "security.ask_birth_date") and "Nguyễn T. H." in chat.text
    await chat.send("1948")  # the right year alone proves nothing here, and costs no try
    assert said(chat, "security.date_invalid")
    assert await runtime.store.count(f"link:card:{hoa.id}") == 0
    assert await runtime.store.count(f"link:card30:{hoa.id}") == 0
    await chat.send("06/03/1948")
    assert said(chat, "security.wrong_date") and str(MAX_WRONG_YEARS - 1) in chat.text
    await chat.send("ngày 5-3-1948")
    assert said(chat, "link.relation")


async def test_nine_accounts_four_guesses_each_lock_the_card_and_alert(chat_factory, sessions, runtime, capsys):
    hoa = await hoa_born(sessions)
    owner = chat_factory(OWNER)
    await link_via_start(owner, hoa, "Tôi")
    refused, locked_at = [], None
    for n in range(1, 10):
        attacker = chat_factory(4200 + n)
        await attacker.command("start", hoa.code)
        if said(attacker, "security.card_busy") or said(attacker, "security.card_locked"):
            refused.append(n)
            continue
        for guess in wrong_dates(4):
            await attacker.send(guess)
            if said(attacker, "security.card_locked"):
                locked_at = locked_at or n
                break
    # Five accounts a day may try the card (its owner was one); the tenth wrong answer locks it.
    assert locked_at == 3 and refused == [4, 5, 6, 7, 8, 9]
    assert [e.outcome for e in await audit(sessions, "link_attempt")].count("wrong_year") == CARD_MAX_WRONG
    [alert] = await audit(sessions, "card_lock")
    assert (alert.resident_id, alert.outcome) == (hoa.id, "locked")
    # the owner is told, in her own chat; the attackers linked nothing
    assert any(locales.t("vi", "security.card_locked_notice").split("{")[0].strip() in c.params.get("text", "")
               for c in owner.api.sent(OWNER))
    assert [lk.account_id for lk in await active_links(sessions, hoa.id)] == [addr(OWNER)]
    # even the right date from a new account is refused now
    late = chat_factory(4300)
    await late.command("start", hoa.code)
    assert said(late, "security.card_locked") and STATION_PHONE in late.text
    # staff see it in the statistics
    capsys.readouterr()
    assert await cli(runtime, "stats", "--ward", "Phường 27") == 0
    shown = capsys.readouterr().out.splitlines()
    for label in ("security.stats.cards_locked", "security.stats.cards_locked_today"):
        assert locales.t("vi", "stats.notice", label=locales.t("vi", label), value=1) in shown


async def test_wrong_answers_spread_over_days_lock_the_card_within_30_days(chat_factory, sessions, runtime):
    hoa = await hoa_born(sessions)
    for _ in range(CARD_MAX_WRONG_MONTH - 1):  # nine a day for a few days, say
        await runtime.store.hit(f"link:card30:{hoa.id}", 30 * 86400)
    chat = chat_factory(4350)
    await chat.command("start", hoa.code)
    await chat.send(wrong_dates(1)[0])  # the first wrong answer today, the 20th this month
    assert said(chat, "security.card_locked")
    assert [e.resident_id for e in await audit(sessions, "card_lock")] == [hoa.id]


async def test_too_many_accounts_on_one_card_in_a_day(chat_factory, sessions):
    hoa = await add_resident(sessions)
    for n in range(CARD_MAX_ACCOUNTS):
        chat = chat_factory(4400 + n)
        await chat.command("start", hoa.code)
        assert said(chat, "link.year")
        await chat.command("start", hoa.code)  # the same account again is not a new one
        assert said(chat, "link.year")
    extra = chat_factory(4499)
    await extra.command("start", hoa.code)
    assert said(extra, "security.card_busy") and not said(extra, "link.year")


async def test_staff_unlock_and_reissue_clear_locks_and_counters(chat_factory, sessions, runtime, capsys):
    hoa = await add_resident(sessions)
    async with sessions.begin() as s:
        s.add(CardLock(resident_id=hoa.id, locked_at=LOCKED_AT, locked_by="4501"))
    chat = chat_factory(4501)
    await chat.command("start", hoa.code)
    assert said(chat, "security.card_locked")
    await runtime.store.hit(f"link:year:4502:{hoa.id}", 3600)
    await runtime.store.hit(f"link:card:{hoa.id}", 3600)
    await runtime.store.hit(f"link:card30:{hoa.id}", 3600)

    assert await cli(runtime, "security", "locks") == 0
    assert f"{hoa.id} · Phường 27" in capsys.readouterr().out
    assert await cli(runtime, "--operator", "Chị Mai", "security", "unlock", hoa.code) == 0
    assert str(hoa.id) in capsys.readouterr().out
    assert await runtime.store.count(f"link:year:4502:{hoa.id}") == 0
    assert await runtime.store.count(f"link:card:{hoa.id}") == 0
    [entry] = await audit(sessions, "card_unlock")
    assert (entry.actor_kind, entry.actor_id, entry.outcome) == ("cli", "Chị Mai", "ok")
    await link_via_start(chat, hoa, "Con")
    assert len(await active_links(sessions, hoa.id)) == 1

    # five wrong years lock the card for one account; a reissue lifts that too
    other = chat_factory(4503)
    await other.command("start", hoa.code)
    for year in range(1950, 1950 + MAX_WRONG_YEARS):
        await other.send(str(year))
    assert said(other, "link.locked")
    async with sessions.begin() as s:
        s.add(CardLock(resident_id=hoa.id, locked_at=LOCKED_AT))
    assert await cli(runtime, "residents", "reissue", str(hoa.id)) == 0
    async with sessions() as s:
        assert await s.get(CardLock, hoa.id) is None
        new_code = (await s.get(Resident, hoa.id)).code
    assert await runtime.store.count(f"link:year:4503:{hoa.id}") == 0
    await other.command("start", new_code)
    assert said(other, "link.year")
    assert await cli(runtime, "security", "unlock", "999999") == 1


# ---------------------------------------------------------------- the owner


async def test_the_owner_removes_an_attackers_link_and_the_attacker_is_told(chat_factory, sessions, runtime):
    hoa = await hoa_born(sessions)
    attacker = chat_factory(4601)
    await link_via_start(attacker, hoa, "Con")  # got there first, with a photographed card
    await attacker.press("Khai báo ngay")  # and left a declaration half-way
    assert DRAFT in await runtime.store.load(addr(4601))
    owner = chat_factory(4602)
    await link_via_start(owner, hoa, "Tôi")

    await attacker.command("taikhoan")  # not the owner: shown nothing
    assert said(attacker, "security.owner_none")

    await owner.command("taikhoan")
    assert said(owner, "security.holders") and "(bạn)" in owner.text and "Con" in owner.text
    await owner.press("Gỡ tài khoản 1")
    assert said(owner, "security.remove_confirm")
    await owner.press(locales.t("vi", "security.btn_remove_yes"))
    assert said(owner, "security.removed") and said(owner, "security.holders_alone")
    assert [lk.account_id for lk in await active_links(sessions, hoa.id)] == [addr(4602)]
    told = [c.params.get("text", "") for c in attacker.api.sent(4601)]
    assert any(locales.t("vi", "security.removed_notice").split("{")[0].strip() in text for text in told)
    assert DRAFT not in await runtime.store.load(addr(4601))
    [entry] = [e for e in await audit(sessions, "unlink_other") if e.outcome == "ok"]
    assert entry.actor_id == addr(4602) and "Hoa" not in str(entry.details)
    await attacker.command("hoso")
    assert not said(attacker, "decl.record")


async def test_the_first_link_is_the_owner_when_the_person_has_no_account(chat_factory, sessions):
    hoa = await hoa_born(sessions)
    son, other = chat_factory(4701), chat_factory(4702)
    await link_via_start(son, hoa, "Con")
    await link_via_start(other, hoa, "Người thân khác")
    await other.command("accounts")
    assert said(other, "security.owner_none")
    await son.command("taikhoan")
    assert said(son, "security.holders")
    await son.press("Gỡ tài khoản 2")
    await son.press(locales.t("vi", "security.btn_keep"))  # changed their mind
    assert len(await active_links(sessions, hoa.id)) == 2


async def test_unlinking_drops_the_declaration_in_progress(chat_factory, sessions, runtime, capsys):
    hoa, tam = await hoa_born(sessions), await add_resident(sessions, "Lê Văn Tâm", 1961, "M")
    chat = chat_factory(4801)
    await link_via_start(chat, hoa, "Tôi")
    await chat.press("Khai báo ngay")
    assert (await runtime.store.load(addr(4801)))[DRAFT]["rid"] == hoa.id
    await chat.command("huylienket")
    await chat.press(locales.t("vi", "family.btn_unlink_yes"))
    assert DRAFT not in await runtime.store.load(addr(4801))

    other = chat_factory(4802)
    await link_via_start(other, tam, "Tôi")
    await other.press("Khai báo ngay")
    assert DRAFT in await runtime.store.load(addr(4802))
    assert await cli(runtime, "residents", "unlink", str(tam.id)) == 0
    assert DRAFT not in await runtime.store.load(addr(4802))


# ---------------------------------------------------------------- codes at rest


async def test_a_copy_of_the_database_alone_finds_and_links_no_one(chat_factory, sessions, runtime, database_url):
    hoa = await hoa_born(sessions)
    code = hoa.code
    conn = await asyncpg.connect(database_url)
    try:
        copied = [dict(r) for r in await conn.fetch("SELECT * FROM residents")]
    finally:
        await conn.close()
    # the code is in no column, in any form people or machines write it
    dump = repr(copied).encode() + b"".join(v for r in copied for v in r.values() if isinstance(v, bytes))
    for form in (code, code.lower(), codes.display(code), code[:-1]):
        assert form.encode() not in dump and form.encode().hex().encode() not in dump
    # a server keyed with another secret (the copy without ours) finds nothing and links no one
    code_vault.use("another-server-secret-" + "y" * 32)
    try:
        assert await runtime.services.people.by_code(code) is None
        with pytest.raises(code_vault.VaultNotReady):
            code_vault.unseal(copied[0]["code_sealed"])
        thief = chat_factory(4901)
        await thief.command("start", code)
        assert said(thief, "link.unknown") and not said(thief, "security.ask_birth_date")
    finally:
        code_vault.use(CODE_SECRET)
    assert (await runtime.services.people.by_code(codes.display(code).lower())).id == hoa.id


# ---------------------------------------------------------------- registry text


BIDI = "\u202e\u200b"  # right-to-left override, zero-width space


async def test_invisible_characters_are_dropped_on_import_and_where_shown(chat_factory, sessions, runtime,
                                                                         database_url, tmp_path):
    path = tmp_path / "ds.csv"
    path.write_text("ho_ten,ngay_sinh,dia_chi,phuong\n"
                    f"Nguyễn Thị{BIDI} Mai,05/03/1948,12 Lê{BIDI} Lợi,Phường{BIDI} 27\n", encoding="utf-8")
    conn = await asyncpg.connect(database_url)
    try:
        report = await registry.import_file(conn, path)
        row = await conn.fetchrow("SELECT full_name, address, ward FROM residents")
    finally:
        await conn.close()
    assert report.added == 1 and tuple(row) == ("Nguyễn Thị Mai", "12 Lê Lợi", "Phường 27")
    # a row from before the import cleaned it is cleaned where it is shown
    async with sessions.begin() as s:
        old = Resident(code=codes.new_code(), ward="Phường 27", full_name=f"Trần{BIDI} Văn Nam",
                       birth_year=1950, sex="M")
        s.add(old)
    chat = chat_factory(4950)
    await link_via_start(chat, old, "Tôi")
    await chat.command("nguoithan")
    assert "Trần Văn Nam" in chat.text and not any(c in chat.text for c in BIDI)
    assert all(c not in b for b in chat.keyboard() for c in BIDI)
    # and a typed answer goes through the same cleaning
    assert clean(f"Giáo{BIDI} viên") == "Giáo viên" and visible(f"a{BIDI}b") == "ab"


# ---------------------------------------------------------------- terminal reads


async def test_terminal_reads_are_audited_with_the_operator(sessions, runtime, capsys, tmp_path):
    hoa = await hoa_born(sessions)
    assert await cli(runtime, "--operator", "Chị Mai", "residents", "show", str(hoa.id), "--reveal") == 0
    assert await cli(runtime, "residents", "list", "--ward", "Phường 27") == 0
    assert await cli(runtime, "--operator", "Chị Mai", "cards", "--ward", "Phường 27", "--format", "svg",
                     "--out", str(tmp_path / "cards")) == 0
    reads = await audit(sessions, "cli_read")
    assert [(e.details["command"], e.actor_id) for e in reads] == [
        ("residents show", "Chị Mai"), ("residents list", who_ran()), ("cards", "Chị Mai")]
    assert reads[0].resident_id == hoa.id and reads[0].details["reveal"] is True
    assert reads[1].resident_id == hoa.id and reads[2].resident_id == hoa.id
    assert "Hoa" not in str([e.details for e in reads]) and hoa.code not in str([e.details for e in reads])
    capsys.readouterr()
    assert await cli(runtime, "audit", "--staff", "Chị Mai", "--csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    read, at_the_server = locales.t("vi", "privacy.action.cli_read"), locales.t("vi", "privacy.kind.cli")
    assert [r[2] for r in rows[1:]] == [read, read] and all(r[1] == f"{at_the_server} Chị Mai" for r in rows[1:])
    assert await cli(runtime, "audit", "--resident", hoa.code, "--csv") == 0
    assert len([r for r in csv.reader(io.StringIO(capsys.readouterr().out)) if read in r]) == 3


async def test_another_code_secret_at_the_terminal_is_one_line(sessions, database_url, redis_url, redis_prefix):
    hoa = await hoa_born(sessions)
    done = await asyncio.to_thread(healthbot, "residents", "show", str(hoa.id), "--reveal", DATABASE_URL=database_url,
                                   REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix,
                                   CODE_SECRET="not-the-secret-the-cards-were-issued-with")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [locales.t("vi", "security.cli.wrong_secret")]
    assert hoa.code not in done.stdout + done.stderr


# ---------------------------------------------------------------- the Redis draft


async def test_the_draft_in_redis_holds_ids_and_answers_not_the_registry(chat_factory, sessions, runtime):
    from tests.test_declare import LAN, LAN_SCRIPT, family, run  # noqa: PLC0415

    [lan] = await family(sessions, 4990, {**LAN, "phone": "+84987000111", "insurance_code": "DN4797915410033"})
    chat = chat_factory(4990)
    await chat.command("khaibao")
    await run(chat, LAN_SCRIPT[:4])  # identity, phone, address, occupation
    key = addr(4990)
    raw = await runtime.redis.get(runtime.store.keys.state(key))
    d = (await runtime.store.load(key))[DRAFT]
    assert d["rid"] == lan.id and d["rel"] == "self" and "person" not in d
    # (the address she confirmed is one of her answers; the rest of the row is nowhere)
    for value in (lan.full_name, lan.code, "+84987000111", "DN4797915410033", lan.birth_date.isoformat()):
        assert value not in raw, value
    # a draft written before the change loses its registry copy at the next step
    state = await runtime.store.load(key)
    state[DRAFT]["person"] = {"full_name": lan.full_name}
    await runtime.store.save(key, state)
    await chat.send("kinh")
    assert "person" not in (await runtime.store.load(key))[DRAFT]
    assert lan.full_name not in await runtime.redis.get(runtime.store.keys.state(key))


def test_the_embedded_set_up_makes_its_own_code_secret_once(tmp_path):
    from bot.config import ConfigError, Settings  # noqa: PLC0415
    from bot.runtime import key_codes  # noqa: PLC0415

    try:
        embedded = {"_env_file": None, "data_dir": tmp_path, "database_url": "", "code_secret": ""}
        key_codes(Settings(**embedded))  # no DATABASE_URL: the embedded servers
        secret_file = tmp_path / code_vault.SECRET_FILE
        assert secret_file.stat().st_mode & 0o777 == 0o600 and len(secret_file.read_text()) >= 48
        sealed = code_vault.seal("K7QM3XPA9TZRD4")
        key_codes(Settings(**embedded))  # the next start reads the same one
        assert code_vault.unseal(sealed) == "K7QM3XPA9TZRD4"
        with pytest.raises(ConfigError):  # a configured database needs CODE_SECRET
            key_codes(Settings(**{**embedded, "database_url": "postgresql://db/x"}))
    finally:
        code_vault.use(CODE_SECRET)
