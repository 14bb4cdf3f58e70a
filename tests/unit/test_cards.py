"""Printed cards: every QR decodes to exactly the deep link, in PNG, SVG and PDF."""

from __future__ import annotations

import io
import re
from argparse import Namespace
from types import SimpleNamespace

import pypdfium2
import pytest
import zxingcpp
from aiohttp import web
from PIL import Image

from bot import cards, cli_residents
from bot.config import Settings
from bot.progress import Bar
from dialogs import codes

BOT = "hb_phuong27_bot"


def make_cards(n: int) -> list[cards.Card]:
    names = ["Nguyễn Thị Ngọc Hoàng Phương Thảo Quỳnh", "Trần Văn Đức", "Lê Ưu Ái"]
    return [cards.Card(i + 1, code, names[i % 3], 1940 + i, "Phường 27", "Khu phố 3", f"Tổ {i}",
                       cards.deep_link(BOT, code)) for i, code in enumerate(codes.new_codes(n))]


def decoded(image: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode)


def test_deep_link_obeys_telegram_payload_rules():
    for card in make_cards(50):
        payload = card.link.split("?start=", 1)[1]
        assert card.link == f"https://t.me/{BOT}?start={card.code}"
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
        assert codes.check(card.link) == (card.code, None)  # pasted back, the link gives the code
    assert cards.deep_link("@" + BOT, "X") == f"https://t.me/{BOT}?start=X"


def test_qr_matrix_decodes_to_the_link():
    for card in make_cards(20):
        rows = cards.qr_matrix(card.link)
        symbol = Image.frombytes("L", (len(rows), len(rows)), b"".join(rows).translate(cards._INK))
        framed = Image.new("L", (len(rows) + 8, len(rows) + 8), 255)
        framed.paste(symbol, (4, 4))
        assert decoded(framed.resize((framed.width * 8, framed.height * 8), Image.NEAREST)) == [card.link]


def test_qr_path_covers_exactly_the_dark_modules():
    link = make_cards(1)[0].link
    rows = cards.qr_matrix(link)
    size, path = cards.qr_path(link)
    painted = set()
    for x, y, w in (map(int, m.groups()) for m in re.finditer(r"(\d+) (\d+) (\d+) 1 re", path)):
        painted |= {(x + i, y) for i in range(w)}
    assert size == len(rows) and path.endswith(" f")
    assert painted == {(x, y) for y, row in enumerate(rows) for x, v in enumerate(row) if v}


def test_png_cards_decode(tmp_path):
    batch = make_cards(4)
    paths = cards.make_files(batch, tmp_path, "png")
    assert [p.name for p in paths] == [f"{n:05d}_{c.id}.png" for n, c in enumerate(batch, start=1)]
    for path, card in zip(paths, batch, strict=True):
        with Image.open(path) as image:
            assert image.size == (round(cards.CARD_W / 25.4 * 300), round(cards.CARD_H / 25.4 * 300))
            assert decoded(image) == [card.link]


def test_svg_cards_hold_the_code_and_vietnamese_text(tmp_path):
    batch = make_cards(2)
    paths = cards.make_files(batch, tmp_path / "svg", "svg")
    text = paths[0].read_text("utf-8")
    assert text.startswith("<svg") and codes.display(batch[0].code) in text
    assert "Bắt đầu" in text and "Năm sinh 1940" in text and "Phường 27 · Khu phố 3 · Tổ 0" in text


def test_pdf_pages_font_and_every_qr_decodes(tmp_path):
    batch = make_cards(11)  # one full page and three cards on the next
    out = tmp_path / "cards.pdf"
    cards.make_pdf(batch, out)
    data = out.read_bytes()
    assert b"/FontFile2" in data  # the TTF is embedded (subset), so diacritics print anywhere
    pdf = pypdfium2.PdfDocument(str(out))
    assert len(pdf) == 2
    assert pdf[0].get_size() == pytest.approx((595.28, 841.89), abs=0.5)
    text = pdf[0].get_textpage().get_text_bounded()
    assert "Bắt đầu" in text and "Trần Văn Đức" in text and codes.display(batch[1].code) in text
    found = []
    for page in pdf:
        found += decoded(page.render(scale=200 / 72).to_pil().convert("L"))
    pdf.close()
    assert sorted(found) == sorted(c.link for c in batch)


def test_pdf_through_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "SMALL_RUN", 1)
    batch = make_cards(40)
    out = tmp_path / "cards.pdf"
    progress = Bar(len(batch), "Thẻ", stream=io.StringIO())
    cards.make_pdf(batch, out, workers=2, progress=progress)
    pdf = pypdfium2.PdfDocument(str(out))
    assert len(pdf) == 5 and progress.done == 40
    last = decoded(pdf[4].render(scale=200 / 72).to_pil().convert("L"))
    pdf.close()
    assert last == sorted(c.link for c in batch[32:])


def test_long_names_shrink_to_fit():
    long = "Nguyễn Thị Ngọc Hoàng Phương Thảo Quỳnh Như Ý"
    assert cards.fitted_size(long, 11, cards.TEXT_W, bold=True) < 11
    assert cards.fitted_size("Lê An", 11, cards.TEXT_W, bold=True) == 11


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Bar(100, "Thẻ", stream=stream)
        for _ in range(100):
            bar.advance()
    shown = tty.getvalue().removesuffix("\x1b[?25h")  # the cursor shown again after the bar
    assert "100/100" in shown and shown.endswith("\n")
    assert pipe.getvalue() == ""


# ---------------------------------------------------------------- bot username


def _rt(**settings) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(_env_file=None, **settings), database_url="", sessions=None)


async def test_cards_without_a_bot_username_is_one_line(tmp_path, capsys):
    args = Namespace(ward="Phường 27", quarter=None, group=None, out=tmp_path / "c.pdf", format="pdf", workers=None)
    assert await cli_residents.run_cards(args, _rt(bot_username="", bot_token="")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BOT_USERNAME" in err


async def test_bot_username_from_get_me():
    async def get_me(request):
        assert request.match_info["token"] == "123:abc"
        return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "username": "hb_test_bot"}})

    app = web.Application()
    app.router.add_get("/bot{token}/getMe", get_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        settings = Settings(_env_file=None, bot_token="123:abc", telegram_api_url=f"http://127.0.0.1:{port}")
        assert await cli_residents.bot_username(settings) == "hb_test_bot"
        settings = Settings(_env_file=None, bot_username="@given_bot", bot_token="123:abc")
        assert await cli_residents.bot_username(settings) == "given_bot"
    finally:
        await runner.cleanup()


async def test_unreachable_bot_api_names_no_token():
    settings = Settings(_env_file=None, bot_token="123:secret", telegram_api_url="http://127.0.0.1:9")
    with pytest.raises(cards.CardsError) as e:
        await cli_residents.bot_username(settings)
    assert e.value.msg_id == "registry.error.bot_unreachable" and "secret" not in str(e.value.vars)


def test_with_a_public_url_the_card_holds_its_page_for_every_messenger():
    from bot.card_page import card_url
    from bot.config import Settings
    from dialogs import codes

    code = codes.new_code()
    telegram = f"https://t.me/healthbot_test_bot?start={code}"
    assert card_url(Settings(_env_file=None), code, telegram) == telegram
    page = card_url(Settings(_env_file=None, public_url="https://suckhoe.example.vn"), code, telegram)
    assert page == f"https://suckhoe.example.vn/c/{code}"
    assert codes.normalise(page) == code  # a photo of the card reads back as its code
