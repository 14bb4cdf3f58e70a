"""The staff console through aiohttp's test client: sign-in by the bot's one-time link,
sessions, CSRF, ward scope, and each task's effect on the database and the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import func, select, text

import locales
from bot.config import TIME_ZONE
from locales import audit_labels
from storage import registry
from storage.models import AuditEntry, Broadcast, DeletionRequest, Link, Resident
from tests.staffdata import KP1, OTHER_WARD, WARD
from tests.web.conftest import (
    ADMIN_ID,
    OTHER_STAFF_ID,
    STAFF_ID,
    csrf_of,
    link_from_bot,
    path_of,
    sign_in,
)


async def audit(sessions, action: str) -> list[AuditEntry]:
    async with sessions() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.execute(q)).scalars())


# ---------------------------------------------------------------- signing in


async def test_only_staff_get_a_link(town, chat_factory):
    chat = chat_factory(5555)  # not staff: the same answer as an unknown command
    await chat.command("web")
    assert "/signin/" not in chat.text
    assert "/signin/" in (await link_from_bot(chat_factory, STAFF_ID))


async def test_a_link_works_once_and_opens_a_safe_session(town, chat_factory, client):
    path = path_of(await link_from_bot(chat_factory, STAFF_ID))
    assert (await client.get("/")).status == 401  # not signed in yet
    shown = await client.get(path)  # a link preview only sees a button
    assert shown.status == 200
    r = await client.post(path, allow_redirects=False)
    assert r.status == 303
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert (await client.get("/")).status == 200
    again = await client.post(path, allow_redirects=False)
    assert again.status == 410
    assert (await audit(town.sessions, "web_signin"))[0].actor_id == f"telegram:{STAFF_ID}"


async def test_secure_cookie_behind_https(town, chat_factory, runtime, client):
    runtime.settings.web_public_url = "https://console.example.vn"
    path = path_of(await link_from_bot(chat_factory, STAFF_ID))
    r = await client.post(path, allow_redirects=False)
    assert "Secure" in r.headers["Set-Cookie"]


async def test_the_token_is_stored_hashed_with_a_ttl(town, chat_factory, redis, redis_prefix):
    link = await link_from_bot(chat_factory, STAFF_ID)
    token = link.rsplit("/", 1)[1]
    keys = [k async for k in redis.scan_iter(f"{redis_prefix}:web:signin:*")]
    assert len(keys) == 1 and token not in keys[0]
    assert 0 < await redis.ttl(keys[0]) <= 300


async def test_every_console_key_in_redis_expires(town, chat_factory, client, redis, redis_prefix):
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    await link_from_bot(chat_factory, STAFF_ID)  # a second link, left unused
    await client.post("/lang", data={"csrf": csrf, "locale": "en"})
    keys = [k async for k in redis.scan_iter(f"{redis_prefix}:web:*")]
    kinds = {k.split(":")[2] for k in keys}
    assert {"signin", "sess", "staff", "overview"} <= kinds
    for k in keys:
        assert 0 < await redis.ttl(k) <= 8 * 3600, k


async def test_posts_without_the_csrf_token_are_refused(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    form = {"full_name": "Ngô Thị Mai", "birth": "1990", "ward": WARD}
    assert (await client.post("/residents/new", data=form)).status == 403
    assert (await client.post("/residents/new", data={**form, "csrf": "x" + csrf})).status == 403
    async with town.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Resident)) == 0


async def test_sign_out_everywhere_ends_every_session(town, chat_factory, client, runtime):
    from aiohttp.test_utils import TestClient, TestServer  # noqa: PLC0415

    from web.app import make_app  # noqa: PLC0415

    other = TestClient(TestServer(make_app(runtime)))
    await other.start_server()
    try:
        csrf = await sign_in(client, chat_factory, STAFF_ID)
        await sign_in(other, chat_factory, STAFF_ID)
        r = await client.post("/signout", data={"csrf": csrf, "everywhere": "1"}, allow_redirects=False)
        assert r.status == 303
        assert (await other.get("/residents")).status == 401
        assert (await client.get("/residents")).status == 401
    finally:
        await other.close()


async def test_removed_staff_lose_access_at_once(town, chat_factory, client):
    from storage import staff  # noqa: PLC0415

    await sign_in(client, chat_factory, STAFF_ID)
    async with town.sessions.begin() as s:
        await staff.remove(s, f"telegram:{STAFF_ID}")
    assert (await client.get("/residents")).status == 401


# ---------------------------------------------------------------- ward scope


async def test_staff_of_ward_a_cannot_see_ward_b(town, chat_factory, client):
    mine = await town.resident(name="Nguyễn Thị Hoa")
    theirs = await town.resident(ward=OTHER_WARD, name="Trần Văn Bình")
    await sign_in(client, chat_factory, STAFF_ID)
    assert (await client.get(f"/residents/{mine}")).status == 200
    assert (await client.get(f"/residents/{theirs}")).status == 404
    assert (await client.get(f"/residents/{theirs}/card.pdf")).status == 404
    assert (await client.get("/", params={"ward": OTHER_WARD})).status == 403
    assert (await client.get("/residents", params={"q": "binh", "ward": OTHER_WARD})).status == 403
    page = await (await client.get("/residents", params={"q": "tran van binh"})).text()
    assert "Trần Văn Bình" not in page
    assert (await client.get("/staff")).status == 403
    refused = await audit(town.sessions, "web_resident_view")
    assert any(e.outcome == "refused" for e in refused)


# ---------------------------------------------------------------- pages and tasks


async def test_overview_counts_by_quarter_and_group(town, chat_factory, client):
    acc = await town.account()
    a = await town.resident(quarter=KP1)
    b = await town.resident(quarter=KP1)
    await town.resident(quarter="Khu phố 2")
    await town.resident(ward=OTHER_WARD)
    await town.link(acc, a)
    await town.declare(a, days_ago=0)
    await town.declare(b, days_ago=0)
    await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get("/")).text()
    assert "<svg" in html and 'role="img"' in html
    from storage import console  # noqa: PLC0415

    async with town.sessions() as s:
        rows = await console.progress(s, WARD, datetime.now(UTC))
    total = rows[0]
    assert (total.residents, total.linked, total.this_q, total.ever) == (3, 1, 2, 2)
    kp1 = next(r for r in rows if r.quarter == KP1 and r.group_name is None)
    assert (kp1.residents, kp1.this_q) == (2, 2)


async def test_admin_overview_of_every_ward_is_by_ward(town, chat_factory, client):
    await town.resident(ward=WARD, quarter=KP1)
    await town.resident(ward=OTHER_WARD, quarter=KP1)  # the same khu phố name in another ward
    from storage import console  # noqa: PLC0415

    async with town.sessions() as s:
        rows = await console.progress(s, None, datetime.now(UTC))
    subtotals = {r.quarter: r.residents for r in rows if r.quarter is not None and r.group_name is None}
    assert subtotals == {WARD: 1, OTHER_WARD: 1}
    await sign_in(client, chat_factory, ADMIN_ID)
    html = await (await client.get("/")).text()
    assert OTHER_WARD in html and "Tất cả các phường" in html


async def test_overview_figures_are_renewed_in_the_background(town, chat_factory, client, redis, redis_prefix):
    import asyncio  # noqa: PLC0415
    import json  # noqa: PLC0415

    from web import home  # noqa: PLC0415

    await town.resident()
    await sign_in(client, chat_factory, STAFF_ID)  # the first view computes the figures
    name = f"{redis_prefix}:web:overview:{WARD}"
    data = json.loads(await redis.get(name))
    assert data["rows"][0][2] == 1
    data["at"] = (datetime.fromisoformat(data["at"]) - timedelta(minutes=2)).isoformat()
    await redis.set(name, json.dumps(data))
    await town.resident()
    assert (await client.get("/")).status == 200  # shown at once, from the older figures
    await asyncio.gather(*client.app[home.TASKS])
    assert json.loads(await redis.get(name))["rows"][0][2] == 2


async def test_search_without_diacritics_and_by_phone(town, chat_factory, client):
    rid = await town.resident(name="Nguyễn Thị Hoa")
    await town.resident(name="Lê Thị Cúc")
    async with town.sessions.begin() as s:
        (await s.get(Resident, rid)).phone = "+84903123456"
    await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get("/residents", params={"q": "nguyen thi hoa"})).text()
    assert f"/residents/{rid}" in html and "Lê Thị Cúc" not in html
    wild = await (await client.get("/residents", params={"q": "h_a"})).text()
    assert f"/residents/{rid}" not in wild  # "_" is a letter typed, not a wildcard
    html = await (await client.get("/residents", params={"q": "0903 123 456"})).text()
    assert f"/residents/{rid}" in html
    searched = await audit(town.sessions, "web_search")
    assert searched[0].details["resident_ids"] == [rid]
    assert "nguyen" not in str(searched[0].details)  # the typed text is never stored


async def test_a_name_is_found_by_its_end_then_by_its_words(town, chat_factory, client):
    ids = {name: await town.resident(name=name)
           for name in ("Nguyễn Minh Tuấn", "Nguyễn Văn Tuấn Anh", "Lê Tuấn", "Trần Minh Tuấn Kiệt", "Văn Nguyễn Hà")}
    await sign_in(client, chat_factory, STAFF_ID)

    async def found(q: str) -> set[str]:
        html = await (await client.get("/residents", params={"q": q})).text()
        return {name for name, rid in ids.items() if f"/residents/{rid}\"" in html}

    # the end of the name, whole words: those ending so, and only those
    assert await found("minh tuan") == {"Nguyễn Minh Tuấn"}
    assert await found("tuan") == {"Nguyễn Minh Tuấn", "Lê Tuấn"}
    assert await found("nguyen minh tuan") == {"Nguyễn Minh Tuấn"}
    # no name ends so: the names beginning so, as names are written
    assert await found("nguyen van") == {"Nguyễn Văn Tuấn Anh"}
    # neither: every word anywhere, then the last word only begun
    assert await found("van nguyen ha") == {"Văn Nguyễn Hà"}
    assert await found("ha van") == {"Văn Nguyễn Hà"}
    assert await found("minh tuan k") == {"Trần Minh Tuấn Kiệt"}
    assert await found("nguyen tu") == {"Nguyễn Minh Tuấn", "Nguyễn Văn Tuấn Anh"}
    assert await found("tua") == set(ids) - {"Văn Nguyễn Hà"}
    assert await found("uan") == set()  # words are found from their start


async def test_moved_away_and_deceased_are_filters(town, chat_factory, client):
    living = await town.resident(name="Trần Văn Nam")
    moved = await town.resident(name="Phạm Văn Nam")
    died = await town.resident(name="Đỗ Văn Nam")
    elsewhere = await town.resident(name="Lý Văn Nam", ward=OTHER_WARD)
    async with town.sessions.begin() as s:
        for rid, status in ((moved, "moved"), (died, "deceased"), (elsewhere, "moved")):
            await registry.set_status(s, rid, status, actor="test")
        (await s.get(Resident, moved)).phone = "+84903555666"
    await sign_in(client, chat_factory, STAFF_ID)

    async def shown(**params) -> tuple[set[int], str]:
        html = await (await client.get("/residents", params=params)).text()
        return {rid for rid in (living, moved, died, elsewhere) if f"/residents/{rid}\"" in html}, html

    assert (await shown(q="van nam"))[0] == {living}  # by default: those living in the ward
    assert (await shown(q="van nam", s="nonsense"))[0] == {living}
    ids, html = await shown(q="van nam", s="moved")
    assert ids == {moved} and "Đã chuyển đi" in html  # another ward's stays hidden
    ids, html = await shown(s="deceased")  # the list, without typing a name
    assert ids == {died} and "Đã mất" in html
    ids, html = await shown(q="0903 555 666")  # a phone number names a person whatever their status
    assert ids == {moved} and "Đã chuyển đi" in html
    assert [e.details["status"] for e in await audit(town.sessions, "web_search")] == [
        "active", "active", "moved", "deceased", "active"]

    page = await (await client.get(f"/residents/{moved}")).text()
    today = datetime.now(TIME_ZONE).strftime("%d/%m/%Y")
    assert f"Đã chuyển đi (từ {today})" in page
    assert "Đang cư trú" in await (await client.get(f"/residents/{living}")).text()
    assert (await client.get(f"/residents/{elsewhere}")).status == 404


async def test_walk_in_is_checked_like_an_import(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    bad = await client.post("/residents/new", data={"csrf": csrf, "full_name": "Ngô 2", "birth": "31/02/1990"})
    assert bad.status == 422
    html = await bad.text()
    assert "họ tên không được có chữ số" in html and "không có ngày này trên lịch" in html
    good = await client.post("/residents/new", allow_redirects=False, data={
        "csrf": csrf, "full_name": "Ngô  Thị Mai", "birth": "02/09/1990", "sex": "Nữ", "quarter": KP1,
        "phone": "0912 345 678", "citizen_id": "079190000001"})
    assert good.status == 303
    async with town.sessions() as s:
        r = (await s.execute(select(Resident))).scalar_one()
    assert (r.full_name, r.ward, r.birth_year, r.sex, r.phone) == ("Ngô Thị Mai", WARD, 1990, "F", "+84912345678")
    again = await client.post("/residents/new", data={"csrf": csrf, "full_name": "Ngô Thị Mai", "birth": "1990",
                                                       "citizen_id": "079190000001"})
    assert again.status == 422
    assert (await audit(town.sessions, "walk_in"))[0].resident_id == r.id


async def test_card_pdf_and_new_code(town, chat_factory, client):
    rid = await town.resident(name="Nguyễn Thị Hoa")
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    r = await client.get(f"/residents/{rid}/card.pdf")
    assert r.status == 200 and (await r.read()).startswith(b"%PDF")
    async with town.sessions() as s:
        before = (await s.get(Resident, rid)).code
    await client.post(f"/residents/{rid}/reissue", data={"csrf": csrf})
    async with town.sessions() as s:
        assert (await s.get(Resident, rid)).code != before


async def test_ward_cards_by_quarter_within_a_limit(town, chat_factory, client, monkeypatch):
    from web import residents  # noqa: PLC0415

    monkeypatch.setattr(residents, "CARDS_AT_ONCE", 1)
    await town.resident(quarter=KP1)
    await town.resident(quarter="Khu phố 2")
    await sign_in(client, chat_factory, STAFF_ID)
    too_many = await client.get("/cards.pdf", params={"ward": WARD})
    assert too_many.status == 422 and "từng khu phố" in await too_many.text()
    one = await client.get("/cards.pdf", params={"ward": WARD, "quarter": KP1})
    assert one.status == 200 and (await one.read()).startswith(b"%PDF")
    assert (await client.get("/cards.pdf", params={"ward": OTHER_WARD})).status == 403


async def test_resident_page_shows_versions_and_removes_a_link(town, chat_factory, client):
    acc, (rid,) = await town.family(1)
    await town.declare(rid, days_ago=3, answers={"weight": 50})
    await town.declare(rid, days_ago=1, answers={"weight": 52})
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get(f"/residents/{rid}")).text()
    assert 'class="changed"' in html
    async with town.sessions() as s:
        link_id = (await s.execute(select(Link.id))).scalar_one()
    await client.post(f"/residents/{rid}/links/{link_id}/remove", data={"csrf": csrf})
    async with town.sessions() as s:
        assert (await s.get(Link, link_id)).revoked_at is not None
    views = await audit(town.sessions, "web_resident_view")
    assert [v.resident_id for v in views] == [rid, rid]


async def test_reminder_preview_then_weekly_schedule(town, chat_factory, client):
    await town.family(2, quarter=KP1)
    await town.family(1, quarter="Khu phố 2", declared=1)
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    preview = await client.post("/reminders", data={"csrf": csrf, "who": "undeclared", "action": "preview"})
    assert "1 gia đình (2 người)" in await preview.text()
    at = (datetime.now(UTC) + timedelta(days=2)).astimezone(TIME_ZONE)
    r = await client.post("/reminders", allow_redirects=False, data={
        "csrf": csrf, "who": "undeclared", "action": "send", "when": "later", "at": at.strftime("%d/%m/%Y %H:%M"),
        "repeat": "weekly", "weeks": "3"})
    assert r.status == 303
    async with town.sessions() as s:
        rows = list((await s.execute(select(Broadcast).order_by(Broadcast.scheduled_at))).scalars())
    assert [b.ward for b in rows] == [WARD] * 3
    assert rows[1].scheduled_at - rows[0].scheduled_at == timedelta(weeks=1)
    await client.post(f"/reminders/{rows[0].id}/cancel", data={"csrf": csrf})
    async with town.sessions() as s:
        assert (await s.get(Broadcast, rows[0].id)).status == "cancelled"


async def test_approve_a_privacy_request_and_not_another_wards(town, chat_factory, client):
    acc, (rid,) = await town.family(1, declared=1)
    _, (other,) = await town.family(1, ward=OTHER_WARD)
    async with town.sessions.begin() as s:
        mine = DeletionRequest(resident_id=rid, ward=WARD, requested_by=f"telegram:{acc}")
        theirs = DeletionRequest(resident_id=other, ward=OTHER_WARD, requested_by=f"telegram:{acc}")
        s.add_all([mine, theirs])
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get("/privacy")).text()
    assert f"/privacy/{mine.id}" in html and f"/privacy/{theirs.id}" not in html
    assert (await client.post(f"/privacy/{theirs.id}", data={"csrf": csrf, "decision": "approve",
                                                            "reason": "requested"})).status == 404
    no_reason = await client.post(f"/privacy/{mine.id}", data={"csrf": csrf, "decision": "approve"})
    assert "Hãy chọn lý do" in await no_reason.text()
    async with town.sessions() as s:
        assert (await s.get(DeletionRequest, mine.id)).status == "open"
    r = await client.post(f"/privacy/{mine.id}", allow_redirects=False,
                          data={"csrf": csrf, "decision": "approve", "reason": "requested"})
    assert r.status == 303
    async with town.sessions() as s:
        assert (await s.get(DeletionRequest, mine.id)).status == "approved"
        assert (await s.get(DeletionRequest, theirs.id)).status == "open"
        assert await s.scalar(select(func.count()).select_from(Link).where(Link.resident_id == rid)) == 0


async def test_audit_search_and_admin_staff_page(town, chat_factory, client):
    rid = await town.resident()
    csrf = await sign_in(client, chat_factory, ADMIN_ID)
    await client.get(f"/residents/{rid}")
    html = await (await client.get("/audit", params={"resident": str(rid)})).text()
    assert locales.t("vi", "privacy.action.web_resident_view") in html
    assert (await client.get("/staff")).status == 200
    await client.post(f"/staff/{OTHER_STAFF_ID}/remove", data={"csrf": csrf})
    from storage import staff  # noqa: PLC0415

    async with town.sessions() as s:
        assert f"telegram:{OTHER_STAFF_ID}" not in [m.account for m in await staff.all_members(s)]


def _table(html: str) -> str:
    return html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""


def _options(html: str) -> dict[str, str]:
    """The staff picker: option value -> text."""
    picker = html.split('<select id="a-staff"', 1)[1].split("</select>", 1)[0]
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', picker))


async def test_audit_page_speaks_in_labels_and_picks_staff_by_name(town, chat_factory, client):
    from storage import staff  # noqa: PLC0415
    from storage.audit import entry  # noqa: PLC0415

    mine, theirs = f"telegram:{STAFF_ID}", f"telegram:{OTHER_STAFF_ID}"
    async with town.sessions.begin() as s:
        await staff.rename(s, mine, "Trần Thị Mai")
        await staff.rename(s, theirs, "Lê Văn Hùng")
    rid = await town.resident()
    await sign_in(client, chat_factory, STAFF_ID)
    await client.get(f"/residents/{rid}")
    await client.get("/residents", params={"q": "không ai có tên này"})  # found nobody
    async with town.sessions.begin() as s:  # a row written by a newer version, not labelled here yet
        s.add(entry("future_thing", actor_kind="robot", actor_id=mine, resident_id=rid, outcome="odd"))

    await sign_in(client, chat_factory, ADMIN_ID)
    html = await (await client.get("/audit", params={"staff": mine})).text()
    rows = _table(html)
    vi = partial(audit_labels.label, "vi")
    for label in (vi("kind", "staff"), "Trần Thị Mai", vi("action", "web_resident_view"), vi("action", "web_search"),
                  vi("outcome", "ok"), vi("outcome", "not_found"), vi("action", "future_thing"), vi("outcome", "odd")):
        assert label in rows, label
    assert "future_thing (chưa có tên gọi)" in rows  # a code with no label yet still reads as something
    assert not re.search(r"\b(web_resident_view|web_search|web_signin|ok|not_found|staff)\b", rows), rows
    # An admin picks anyone by name (address as the second part), or anyone at all.
    assert '<label for="a-staff">' in html
    picker = _options(html)
    assert picker[""] == locales.t("vi", "web.audit.anyone")
    assert picker[mine] == f"Trần Thị Mai · {mine}" and picker[theirs] == f"Lê Văn Hùng · {theirs}"
    assert re.search(rf'<option value="{mine}" selected>', html)
    # The date range still narrows the rows.
    today = datetime.now(TIME_ZONE).date()
    day_before = (today - timedelta(days=1)).isoformat()
    html = await (await client.get("/audit", params={"staff": mine, "until": day_before})).text()
    assert not _table(html) and locales.t("vi", "web.audit.none") in html
    html = await (await client.get("/audit", params={"staff": mine, "since": today.isoformat(),
                                                     "until": today.isoformat()})).text()
    assert vi("action", "web_resident_view") in _table(html)

    csrf = csrf_of(html)
    await client.post("/lang", data={"csrf": csrf, "locale": "en", "back": "/audit"})
    rows = _table(await (await client.get("/audit", params={"staff": mine})).text())
    en = partial(audit_labels.label, "en")
    for label in (en("kind", "staff"), en("action", "web_resident_view"), en("action", "web_search"),
                  en("outcome", "ok"), en("outcome", "not_found")):
        assert label in rows, label

    # A staff member picks only themselves, and reads no one else's actions.
    await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get("/audit")).text()
    assert set(_options(html)) == {"", mine}
    assert (await client.get("/audit", params={"staff": theirs})).status == 403
    assert en("action", "web_resident_view") in _table(await (await client.get("/audit", params={"staff": mine})).text())


async def test_export_downloads(town, chat_factory, client):
    await town.family(1, declared=1)
    await sign_in(client, chat_factory, STAFF_ID)
    r = await client.get("/export.csv")
    assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
    assert len((await r.text()).strip().splitlines()) == 2
    assert (await audit(town.sessions, "staff_export"))[0].actor_id == f"telegram:{STAFF_ID}"


async def test_english_pages(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    await client.post("/lang", data={"csrf": csrf, "locale": "en", "back": "/residents"})
    assert "Find a resident" in await (await client.get("/residents")).text()
    assert csrf_of(await (await client.get("/residents")).text()) == csrf


async def test_import_shows_a_preview_then_applies(town, chat_factory, client):
    import aiohttp  # noqa: PLC0415

    csv_text = ("ho_ten,ngay_sinh,gioi_tinh,so_dien_thoai,khu_pho\n"
                "Đỗ Văn Hùng,03/04/1960,Nam,0903 555 111,Khu phố 1\n"
                "Hồ Thị Yến,1950,Nữ,,Khu phố 2\n"
                "Lý Văn 3,12/12/1990,Nam,,Khu phố 1\n")

    def upload(csrf: str) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("file", csv_text.encode(), filename="danh-sach.csv", content_type="text/csv")
        return form

    csrf = await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.post("/import", data=upload(csrf))).text()
    assert "2 cư dân mới" in html and "1 dòng bị từ chối" in html and "họ tên không được có chữ số" in html
    async with town.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Resident)) == 0  # a preview saves nothing
    html = await (await client.post("/import/apply", data={"csrf": csrf})).text()
    assert "Đã nhập" in html
    async with town.sessions() as s:
        rows = (await s.execute(select(Resident.full_name, Resident.ward).order_by(Resident.id))).all()
    assert rows == [("Đỗ Văn Hùng", WARD), ("Hồ Thị Yến", WARD)]
    async with town.sessions() as s:  # a first load drops the indexes and builds them again
        names = set((await s.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'residents'"))).scalars())
    assert {"ix_residents_name_end", "ix_residents_name_start", "ix_residents_name_words", "ix_residents_not_active", "ix_residents_phone"} <= names
    assert "/residents/" in await (await client.get("/residents", params={"q": "ho thi yen"})).text()
    assert (await client.post("/import/apply", data={"csrf": csrf})).status == 400  # the file is gone


async def test_unlock_a_card_locked_by_wrong_birth_years(town, chat_factory, client, store):
    from dialogs import link  # noqa: PLC0415

    rid = await town.resident()
    for _ in range(link.MAX_WRONG_YEARS):
        await store.hit(link._year_key(4242, rid), link.YEAR_WINDOW)
    await store.hit(link._year_key(4343, rid), link.YEAR_WINDOW)  # one wrong year: not locked
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    html = await (await client.get(f"/residents/{rid}")).text()
    assert "bị khóa với 1 tài khoản" in html
    await client.post(f"/residents/{rid}/unlock", data={"csrf": csrf})
    assert await store.count(link._year_key(4242, rid)) == 0
    assert await store.count(link._year_key(4343, rid)) == 1
    assert "bị khóa" not in await (await client.get(f"/residents/{rid}")).text()
    assert (await audit(town.sessions, "web_unlock"))[0].details == {"accounts": 1}


async def test_a_database_away_gets_a_plain_busy_page(town, chat_factory, client, runtime):
    """PostgreSQL unreachable mid-session (a real refused connection): 503 and the busy page
    in Vietnamese, never a bare 500."""
    from storage.db import make_engine, make_sessions  # noqa: PLC0415

    await sign_in(client, chat_factory, STAFF_ID)
    dead = make_engine("postgresql://postgres@127.0.0.1:1/none")
    kept, runtime.services.staff.sessions = runtime.services.staff.sessions, make_sessions(dead)
    try:
        r = await client.get("/")
        assert r.status == 503
        html = await r.text()
        assert "Hệ thống đang bận" in html and "Traceback" not in html
    finally:
        runtime.services.staff.sessions = kept
    # signed in, then the page's own reads refused (the session checks still pass)
    kept, runtime.sessions = runtime.sessions, make_sessions(dead)
    try:
        r = await client.get("/residents", params={"q": "nguyen van"})
        assert r.status == 503 and "Hệ thống đang bận" in await r.text()
    finally:
        runtime.sessions = kept
        await dead.dispose()
    assert (await client.get("/")).status == 200  # back once it is
