"""Staff accounts with names on the console: adding, renaming, who is shown where, and the
audit entries (ids only: the name stays in the staff table)."""

from __future__ import annotations

from sqlalchemy import select

import locales
from storage.models import AuditEntry, Staff
from tests.staffdata import WARD
from tests.web.conftest import ADMIN_ID, STAFF_ID, sign_in


async def entries(sessions, action: str) -> list[AuditEntry]:
    async with sessions() as s:
        return list((await s.execute(select(AuditEntry).where(AuditEntry.action == action))).scalars())


async def staff_row(sessions, account: str) -> Staff | None:
    async with sessions() as s:
        return await s.get(Staff, account)


async def test_admin_adds_and_renames_a_named_staff_member(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, ADMIN_ID)
    form = {"csrf": csrf, "name": "  Lê Thị  Thu ", "key": "zalo:4455667788", "ward": WARD, "role": "staff"}
    r = await client.post("/staff", data=form, allow_redirects=False)
    assert r.status == 303
    assert (await staff_row(town.sessions, "zalo:4455667788")).full_name == "Lê Thị Thu"
    page = await (await client.get("/staff")).text()
    assert "Lê Thị Thu" in page and "zalo:4455667788" in page

    r = await client.post("/staff/zalo:4455667788/name", data={"csrf": csrf, "name": "Lê Thị Thu Hà"},
                          allow_redirects=False)
    assert r.status == 303
    assert (await staff_row(town.sessions, "zalo:4455667788")).full_name == "Lê Thị Thu Hà"
    added, renamed = await entries(town.sessions, "staff_add"), await entries(town.sessions, "staff_rename")
    assert [e.details["staff"] for e in added] == ["zalo:4455667788"]
    assert [(e.actor_id, e.details) for e in renamed] == [(f"telegram:{ADMIN_ID}", {"staff": "zalo:4455667788"})]
    assert "Thu" not in str([e.details for e in added + renamed])


async def test_a_name_is_needed_and_checked(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, ADMIN_ID)
    for name, says in (("", "đang để trống"), ("Lan 2", "không được có chữ số"), ("A" * 101, "dài quá 100")):
        r = await client.post("/staff", data={"csrf": csrf, "name": name, "key": "777", "ward": WARD, "role": "staff"})
        assert r.status == 400 and says in await r.text(), name
        assert 'value="777"' in await r.text()  # what was typed stays in the form
    assert await staff_row(town.sessions, "telegram:777") is None
    r = await client.post(f"/staff/telegram:{STAFF_ID}/name", data={"csrf": csrf, "name": " "})
    assert r.status == 400
    assert (await client.post("/staff/telegram:999/name", data={"csrf": csrf, "name": "Lê Văn Tám"})).status == 404
    assert not await entries(town.sessions, "staff_rename")


async def test_only_admins_rename_and_with_the_csrf_token(town, chat_factory, client):
    csrf = await sign_in(client, chat_factory, STAFF_ID)
    r = await client.post(f"/staff/telegram:{STAFF_ID}/name", data={"csrf": csrf, "name": "Kẻ Mạo Danh"})
    assert r.status == 403
    assert (await staff_row(town.sessions, f"telegram:{STAFF_ID}")).full_name == ""


async def test_names_in_the_header_and_the_audit_log(town, chat_factory, client):
    async with town.sessions.begin() as s:
        (await s.get(Staff, f"telegram:{ADMIN_ID}")).full_name = "Phạm Minh Quân"
    await sign_in(client, chat_factory, ADMIN_ID)
    html = await (await client.get("/audit", params={"staff": f"telegram:{ADMIN_ID}"})).text()
    assert "Phạm Minh Quân" in html.split("<main", 1)[0]  # the header: who is signed in
    body = html.split("<main", 1)[1]
    signed_in = locales.t("vi", "privacy.action.web_signin")
    assert signed_in in body and "web_signin" not in body and "<strong>Phạm Minh Quân</strong>" in body and f"telegram:{ADMIN_ID}" in body
