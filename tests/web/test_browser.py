"""The console in a real browser: the machine's Chromium driven by Playwright, against
the console served on a local port with the real PostgreSQL and Redis. Screenshots of the
main pages (desktop and phone width) go to var/screenshots for a person to look at."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright
from sqlalchemy import select

from bot.config import TIME_ZONE
from storage import registry
from storage.models import Broadcast, DeletionRequest, Resident, Staff
from tests.staffdata import KP1, OTHER_WARD, WARD
from tests.web.conftest import ADMIN_ID, STAFF_ID, link_from_bot, path_of

CHROMIUM = "/usr/bin/chromium"  # the system's (.ci/run installs it); Playwright's download is not reachable
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def server(runtime):
    from web.app import make_app  # noqa: PLC0415

    srv = TestServer(make_app(runtime), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def browser():
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


async def signed_in_page(browser, server, chat_factory, user_id: int, viewport=None):
    """A page signed in the way staff do it: /web to the bot, open the link, press the button."""
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    link = await link_from_bot(chat_factory, user_id)
    await page.goto(str(server.make_url(path_of(link))))
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.wait_for_url(str(server.make_url("/")))
    return page


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_staff_tasks_in_a_browser(town, chat_factory, server, browser):
    acc, family = await town.family(3, quarter=KP1, declared=1)
    async with town.sessions.begin() as s:
        for rid, name in zip(family, ("Nguyễn Thị Hoa", "Lê Thị Cúc", "Võ Thị Én"), strict=True):
            (await s.get(Resident, rid)).full_name = name
        s.add(DeletionRequest(resident_id=family[2], ward=(await s.get(Resident, family[2])).ward,
                              requested_by=f"telegram:{acc}", requested_at=datetime.now(UTC) - timedelta(hours=80)))
    gone = await town.resident(name="Đinh Văn Tư")
    async with town.sessions.begin() as s:
        await registry.set_status(s, gone, "moved", actor="test")
    await town.declare(family[0], days_ago=2, answers={"weight": 50})
    await town.declare(family[0], days_ago=1, answers={"weight": 51.5})
    page = await signed_in_page(browser, server, chat_factory, STAFF_ID)
    await page.get_by_role("heading", name="Tổng quan").wait_for()
    assert await page.locator("svg.chart rect.bar").count() == 60
    await shot(page, "overview")

    # find a resident typed without diacritics, open their page
    await page.get_by_role("link", name="Cư dân").click()
    await page.get_by_label("Họ tên, số điện thoại").fill("nguyen thi hoa")
    await page.get_by_role("button", name="Tìm").click()
    await page.get_by_text("Tìm thấy 1 người.").wait_for()
    await shot(page, "search")
    await page.get_by_role("link", name="Nguyễn Thị Hoa").click()
    await page.get_by_role("heading", name="Nguyễn Thị Hoa").wait_for()
    await shot(page, "resident")

    # print the card: a PDF
    async with page.expect_response(lambda r: r.url.endswith("/card.pdf")) as got:
        await page.get_by_role("link", name="In thẻ (PDF)").click()
    card = await got.value
    assert card.status == 200 and card.headers["content-type"] == "application/pdf"
    # the browser shows it in its PDF viewer; the bytes, fetched with the same session:
    assert (await (await page.context.request.get(card.url)).body()).startswith(b"%PDF")

    # someone who moved away: not among those living here, found with the filter
    await page.goto(str(server.make_url("/residents")))
    await page.get_by_label("Họ tên, số điện thoại").fill("dinh van tu")
    await page.get_by_role("button", name="Tìm").click()
    await page.get_by_text("Tìm thấy 0 người.").wait_for()
    await page.get_by_label("Đã chuyển đi").check()
    await page.get_by_role("button", name="Tìm").click()
    await page.get_by_text("Tìm thấy 1 người.").wait_for()
    assert await page.get_by_role("row", name="Đinh Văn Tư").get_by_role("cell", name="Đã chuyển đi").count() == 1
    await shot(page, "search-moved")

    # add a walk-in resident
    await page.goto(str(server.make_url("/residents/new")))
    await page.get_by_label("Ngày sinh").fill("31/02/1972")
    await page.get_by_role("button", name="Lưu").click()
    await page.get_by_text("không có ngày này trên lịch").wait_for()
    await shot(page, "walk-in-errors")
    await page.get_by_label("Họ tên").fill("Phan Văn Khoa")
    await page.get_by_label("Ngày sinh").fill("15/04/1972")
    await page.get_by_label("Giới tính").select_option("Nam")
    await page.get_by_label("Khu phố").fill(KP1)
    await page.get_by_label("Điện thoại").fill("0987 111 222")
    await page.get_by_role("button", name="Lưu").click()
    await page.get_by_role("heading", name="Phan Văn Khoa").wait_for()
    async with town.sessions() as s:
        added = (await s.execute(select(Resident).where(Resident.full_name == "Phan Văn Khoa"))).scalar_one()
    assert (added.birth_year, added.phone) == (1972, "+84987111222")

    # compose a reminder, preview its audience, schedule it
    await page.get_by_role("link", name="Nhắc nhở").click()
    await page.get_by_label("Hẹn giờ").check()
    at = (datetime.now(TIME_ZONE) + timedelta(days=1)).strftime("%d/%m/%Y 08:00")
    await page.get_by_label("Thời gian").fill(at)
    await page.get_by_role("button", name="Xem trước người nhận").click()
    await page.locator("#preview").wait_for()
    assert "1 gia đình (2 người)" in await page.locator("#preview").inner_text()
    await shot(page, "reminders")
    await page.get_by_role("button", name="Xác nhận gửi").click()
    await page.get_by_text("Đã xếp lịch gửi nhắc nhở.").wait_for()
    async with town.sessions() as s:
        b = (await s.execute(select(Broadcast))).scalar_one()
    assert b.status == "scheduled" and b.scheduled_at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M") == at

    # approve a privacy request
    await page.get_by_role("link", name="Yêu cầu xóa dữ liệu").click()
    await shot(page, "privacy")
    await page.get_by_label("Lý do").select_option("requested")
    await page.get_by_role("button", name="Đồng ý xóa").click()
    await page.get_by_text("Đã đồng ý và xóa dữ liệu.").wait_for()
    async with town.sessions() as s:
        assert (await s.execute(select(DeletionRequest.status))).scalar_one() == "approved"


async def test_another_wards_resident_by_url(town, chat_factory, server, browser):
    theirs = await town.resident(ward=OTHER_WARD, name="Trần Văn Bình")
    page = await signed_in_page(browser, server, chat_factory, STAFF_ID)
    response = await page.goto(str(server.make_url(f"/residents/{theirs}")))
    assert response.status == 404
    assert "Trần Văn Bình" not in await page.content()
    await page.get_by_role("heading", name="Không tìm thấy").wait_for()
    response = await page.goto(str(server.make_url(f"/?ward={OTHER_WARD}")))
    assert response.status == 403


async def test_phone_width(town, chat_factory, server, browser):
    rid = await town.resident(name="Nguyễn Thị Hoa")
    await town.declare(rid, answers={"weight": 50})
    page = await signed_in_page(browser, server, chat_factory, STAFF_ID, viewport=PHONE)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the screen
    await shot(page, "overview-phone")
    await page.goto(str(server.make_url(f"/residents/{rid}")))
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(page, "resident-phone")


async def test_admin_adds_a_named_staff_member(town, chat_factory, server, browser):
    await town.resident()  # a ward to choose
    page = await signed_in_page(browser, server, chat_factory, ADMIN_ID)
    await page.get_by_role("link", name="Cán bộ").click()
    await page.get_by_label("Họ và tên", exact=True).fill("Đỗ Thị Ngọc Ánh")
    await page.get_by_label("Mã tài khoản").fill("zalo:5566778899")
    await page.get_by_label("Phường", exact=True).select_option(WARD)
    await page.get_by_role("button", name="Thêm cán bộ").click()
    row = page.get_by_role("row").filter(has_text="Đỗ Thị Ngọc Ánh")
    await row.wait_for()
    assert "zalo:5566778899" in await row.inner_text() and WARD in await row.inner_text()
    await shot(page, "staff")
    async with town.sessions() as s:
        assert (await s.get(Staff, "zalo:5566778899")).full_name == "Đỗ Thị Ngọc Ánh"


async def test_download_the_fhir_export(town, chat_factory, server, browser, tmp_path):
    _, family = await town.family(2, quarter=KP1)
    await town.declare(family[0], weight_kg=52, height_cm=155, answers={"weight": 52, "height": 155})
    page = await signed_in_page(browser, server, chat_factory, STAFF_ID)
    async with page.expect_download() as got:
        await page.get_by_role("link", name="Tải hồ sơ theo chuẩn FHIR (NDJSON, .zip)").click()
    download = await got.value
    assert download.suggested_filename == "khai-bao-fhir.zip"
    path = tmp_path / "fhir.zip"
    await download.save_as(path)
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        counts = {o["type"]: o["count"] for o in manifest["output"]}
        assert counts["Patient"] == 2 and counts["Observation"] >= 2
        assert len(z.read("Patient.ndjson").splitlines()) == 2
    await shot(page, "overview-exports")
