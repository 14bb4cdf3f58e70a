"""Registry import, re-import, reissue and look-up against a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import time
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import asyncpg
import openpyxl
import pytest
from sqlalchemy import select

from bot import cli_residents
from dialogs import codes
from storage import code_vault, registry, registry_workers
from storage.models import AuditEntry, Resident
from storage.registry_rows import fold_header

TODAY = date(2026, 11, 30)
HEADER = ["ho_ten", "ngay_sinh", "gioi_tinh", "ma_bhyt", "cccd", "so_dien_thoai", "dia_chi",
          "to_dan_pho", "khu_pho", "phuong"]
ROWS = [
    ["Nguyễn Văn An", "05/03/1950", "Nam", "HT3790000000001", "079050000001", "0912 345 678",
     "12 Lê Văn Việt", "Tổ 1", "Khu phố 1", "Phường 27"],
    ["Trần Thị Bình", "1938", "Nữ", "", "", "", "", "Tổ 2", "Khu phố 1", "Phường 27"],
    ["Lê Minh Châu", "2015-07-21", "nam", "TE1790000000003", "", "+84 358 123 456", "", "", "", "Phường 27"],
]


def write_csv(path: Path, rows: list[list], header=HEADER, delimiter=",", bom=False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        out = csv.writer(f, delimiter=delimiter)
        out.writerow(header)
        out.writerows(rows)
    return path


@pytest.fixture
async def conn(database_url, clean_db):
    c = await asyncpg.connect(database_url)
    yield c
    await c.close()


async def run(conn, path, **kw) -> registry.ImportReport:
    return await registry.import_file(conn, path, today=TODAY, **kw)


async def residents(conn) -> dict[str, dict]:
    """Rows by name, with the card code opened from its sealed copy."""
    return {r["full_name"]: {**r, "code": code_vault.unseal(r["code_sealed"])}
            for r in await conn.fetch("SELECT * FROM residents")}


# ---------------------------------------------------------------- reading and normalising


async def test_csv_with_bom_vietnamese_headers_and_normalised_values(conn, tmp_path):
    header = ["Họ tên", "Ngày sinh", "Giới tính", "Mã BHYT", "CCCD", "Số điện thoại", "Địa chỉ",
              "Tổ dân phố", "Khu phố", "Phường"]
    path = write_csv(tmp_path / "ds.csv", ROWS, header=header, bom=True)
    report = await run(conn, path)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    got = await residents(conn)
    an = got["Nguyễn Văn An"]
    assert an["birth_date"] == date(1950, 3, 5) and an["birth_year"] == 1950
    assert (an["sex"], an["phone"], an["citizen_id"]) == ("M", "+84912345678", "079050000001")
    assert an["insurance_code"] == "HT3790000000001" and an["insurance_key"] == "0000000001"
    binh = got["Trần Thị Bình"]
    assert binh["birth_date"] is None and binh["birth_year"] == 1938 and binh["sex"] == "F"
    assert binh["phone"] is None and binh["insurance_code"] is None
    chau = got["Lê Minh Châu"]
    assert chau["birth_date"] == date(2015, 7, 21) and chau["phone"] == "+84358123456"
    for r in got.values():
        assert codes.check(r["code"]) == (r["code"], None)


async def test_semicolons_blank_lines_and_line_numbers(conn, tmp_path):
    path = tmp_path / "ds.csv"
    text = ";".join(HEADER) + "\n\n" + ";".join(ROWS[0]) + "\n;;;;;;;;;\n" + \
        ";".join(["Phạm Thu", "31/02/1990", "", "", "", "", "", "", "", "Phường 27"]) + "\n\n"
    path.write_text(text, encoding="utf-8")
    report = await run(conn, path)
    assert report.added == 1
    [bad] = report.rejected
    assert (bad.line, bad.column, bad.reason) == (5, "ngay_sinh", "date_invalid")


async def test_rows_shorter_or_longer_than_the_header(conn, tmp_path):
    path = tmp_path / "ds.csv"
    short = ",".join(ROWS[0][:3])  # no cells after gioi_tinh, and so no phuong
    long = ",".join(ROWS[2]) + ",thừa"
    path.write_text(",".join(HEADER) + "\n" + short + "\n" + long + "\n", encoding="utf-8")
    report = await run(conn, path, ward="Phường 27")
    assert report.added == 2 and not report.rejected
    assert (await residents(conn))["Nguyễn Văn An"]["ward"] == "Phường 27"


async def test_quoted_cells_with_commas_and_line_breaks(conn, tmp_path):
    path = tmp_path / "ds.csv"
    row = list(ROWS[0])
    row[6] = 'Số 12, đường "Lê Văn Việt"\nphường 27'
    write_csv(path, [row, ROWS[2]])
    report = await run(conn, path)
    assert report.added == 2 and not report.rejected
    got = await residents(conn)
    assert got["Nguyễn Văn An"]["address"] == 'Số 12, đường "Lê Văn Việt" phường 27'


async def test_xlsx_with_excel_dates_serials_and_numbers(conn, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["DANH SÁCH CƯ DÂN PHƯỜNG 27"])  # a title block above the header
    sheet.append([])
    sheet.append(["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD", "SĐT", "Phường"])
    sheet.append([1, "Võ Thị Hoa", datetime(1961, 12, 1), "Nữ", 79161000123, 912345678, "Phường 27"])
    sheet.cell(row=4, column=3).number_format = "dd/mm/yyyy"
    sheet.append([2, "Đặng Văn Hùng", 20090, "Nam", "079155000999", "0283 899 0000", "Phường 27"])
    sheet.append([3, "Bùi Văn Tú", "1/2/1970", "M", None, None, "Phường 27"])
    path = tmp_path / "ds.xlsx"
    book.save(path)
    report = await run(conn, path)
    assert report.added == 3, report.rejected
    assert report.ignored_columns == ["STT"]  # known, and of no use: not "unknown"
    got = await residents(conn)
    hoa = got["Võ Thị Hoa"]
    assert hoa["birth_date"] == date(1961, 12, 1)
    assert hoa["citizen_id"] == "079161000123"  # Excel's number lost the leading 0
    assert hoa["phone"] == "+84912345678"
    hung = got["Đặng Văn Hùng"]
    assert hung["birth_date"] == date(1955, 1, 1)  # Excel serial 20090
    assert hung["phone"] == "+842838990000"
    assert got["Bùi Văn Tú"]["birth_date"] == date(1970, 2, 1)


@pytest.mark.parametrize(
    ("cell", "column", "reason"),
    [
        (("ho_ten", ""), "ho_ten", "required"),
        (("ho_ten", "Nguyễn 2"), "ho_ten", "name_digits"),
        (("ngay_sinh", "12/2019"), "ngay_sinh", "date_format"),
        (("ngay_sinh", "01/01/2030"), "ngay_sinh", "date_future"),
        (("ngay_sinh", "01/01/1850"), "ngay_sinh", "date_too_old"),
        (("gioi_tinh", "khác"), "gioi_tinh", "sex"),
        (("ma_bhyt", "HT379"), "ma_bhyt", "insurance"),
        (("cccd", "79050000001"), "cccd", "citizen_id_zero"),
        (("cccd", "0790500000011"), "cccd", "citizen_id"),
        (("so_dien_thoai", "0123"), "so_dien_thoai", "phone"),
        (("phuong", ""), "phuong", "required"),
    ],
)
async def test_bad_cells_are_reported_with_column_and_reason(conn, tmp_path, cell, column, reason):
    row = list(ROWS[0])
    row[HEADER.index(cell[0])] = cell[1]
    report = await run(conn, write_csv(tmp_path / "ds.csv", [ROWS[2], row]))
    assert report.added == 1
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [(3, column, reason)]


async def test_duplicates_inside_one_file(conn, tmp_path):
    same_card = list(ROWS[2])
    same_card[0] = "Lê Minh Châu Khác"  # another name, but the same insurance card
    no_ids = ["Trần Thị Bình", "1938", "Nữ", "", "", "0912000111", "", "", "", "Phường 27"]
    rows = [ROWS[0], ROWS[1], ROWS[2], list(ROWS[0]), same_card, no_ids]
    report = await run(conn, write_csv(tmp_path / "ds.csv", rows))
    assert report.added == 3
    assert [(r.line, r.reason, r.vars) for r in report.rejected] == [
        (5, "duplicate", {"other": 2}),
        (6, "duplicate", {"other": 4}),
        (7, "duplicate_person", {"other": 3}),
    ]


async def test_same_name_and_birth_told_apart_by_identifiers(conn, tmp_path):
    # both rows are looked at (same ward, name and birth date, one without a citizen id)
    # and kept: their insurance numbers differ, so they are two people
    other = list(ROWS[0])
    other[3], other[4] = "HT3790000000099", ""
    twin = list(ROWS[0])
    twin[3], twin[4] = "", ""
    report = await run(conn, write_csv(tmp_path / "ds.csv", [ROWS[0], other, twin]))
    assert report.added == 2
    assert [(r.line, r.reason, r.vars) for r in report.rejected] == [(4, "duplicate_person", {"other": 2})]


async def test_ten_thousand_rows_with_three_bad(conn, tmp_path):
    rows = [[f"Nguyễn Văn {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}", f"{1 + i % 28:02d}/0{1 + i % 9}/19{40 + i % 60}",
             "Nam", f"DN4{79_000_000_00 + i:012d}"[:15], f"079{i:09d}", "", "", f"Tổ {i % 40}", "Khu phố 1",
             "Phường 27"] for i in range(10_000)]
    rows[10][1] = "30/02/1970"
    rows[5000][5] = "12345"
    rows[9999][4] = "abc"
    report = await run(conn, write_csv(tmp_path / "big.csv", rows))
    assert report.added == 9997
    assert [(r.line, r.column) for r in report.rejected] == [(12, "ngay_sinh"), (5002, "so_dien_thoai"),
                                                             (10001, "cccd")]
    assert await conn.fetchval("SELECT count(*) FROM residents") == 9997


def _people(count: int) -> list[list[str]]:
    return [[f"Phạm Thị {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}", f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{30 + i % 70}",
             "Nữ", f"HT3{79_000_000_00 + i:012d}"[:15], f"079{i:09d}", f"09{i:08d}", f"{i} Lê Văn Việt",
             f"Tổ {i % 40}", f"Khu phố {i % 6}", "Phường 27"] for i in range(count)]


@pytest.mark.parametrize("first", [True, False], ids=["empty registry", "merge"])
async def test_worker_processes_check_as_this_process_does(conn, tmp_path, monkeypatch, first):
    """A large file is checked by worker processes, chunk by chunk: the rows, the
    rejections (a repeat in a later chunk than its original included) and the codes'
    uniqueness are the same as when one process checks it all."""
    rows = _people(2_000)
    rows[700][1] = "31/02/1980"  # bad cell
    rows[1500] = list(rows[10])  # the same row again, four chunks later
    rows[1800][4] = rows[5][4]  # someone else's citizen id
    path = write_csv(tmp_path / "ds.csv", rows)
    earlier = write_csv(tmp_path / "earlier.csv", _people(300)[:: 3])

    async def imported(parallel: bool) -> tuple[registry.ImportReport, set]:
        await conn.execute("TRUNCATE residents RESTART IDENTITY CASCADE")
        if not first:
            await run(conn, earlier)
        monkeypatch.setattr(registry_workers, "PARALLEL_MIN_BYTES", 0 if parallel else 10**12)
        report = await run(conn, path)
        stored = {tuple(r) for r in await conn.fetch(
            "SELECT full_name, birth_date, insurance_code, citizen_id, phone, ward, quarter, import_source "
            "FROM residents")}
        assert await conn.fetchval("SELECT count(DISTINCT code_hash) FROM residents") == len(stored)
        return report, stored

    monkeypatch.setattr(registry, "CHUNK_ROWS", 300)
    monkeypatch.setattr(registry_workers, "_cores", lambda: 2)
    started = []
    real_start = registry_workers.Workers.start
    monkeypatch.setattr(registry_workers.Workers, "start", lambda self: started.append(self) or real_start(self))
    alone, alone_rows = await imported(parallel=False)
    assert not started
    shared, shared_rows = await imported(parallel=True)
    assert started and not multiprocessing.active_children()  # used, and stopped after
    assert [(r.line, r.reason, r.vars) for r in shared.rejected] == [
        (702, "date_invalid", {}), (1502, "duplicate", {"other": 12}), (1802, "duplicate", {"other": 7})]
    assert shared.rejected == alone.rejected and shared_rows == alone_rows
    assert (shared.added, shared.updated, shared.unchanged) == (alone.added, alone.updated, alone.unchanged)
    assert shared.added + shared.updated + shared.unchanged == 1_997


async def test_a_file_changed_while_importing_imports_nothing(conn, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "ds.csv", ROWS)
    real = registry.parse_file

    def parse_then_edit(*args):
        parsed = real(*args)  # the rows are read again when checked: the file must be the same
        write_csv(path, [ROWS[2], ROWS[1], ROWS[0]])
        os.utime(path, ns=(0, 0))
        return parsed

    monkeypatch.setattr(registry, "parse_file", parse_then_edit)
    with pytest.raises(registry.RegistryFileError) as raised:
        await run(conn, path)
    assert raised.value.msg_id == "registry.error.changed"
    assert await conn.fetchval("SELECT count(*) FROM residents") == 0


def _killed(chunk, setup):
    os._exit(9)  # a worker process killed mid-chunk (the kernel's out-of-memory killer)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # no traceback from the pool
async def test_a_killed_worker_imports_nothing_and_says_so(conn, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "ds.csv", _people(1_000))
    monkeypatch.setattr(registry, "CHUNK_ROWS", 300)
    monkeypatch.setattr(registry_workers, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(registry_workers, "_cores", lambda: 2)
    monkeypatch.setattr(registry_workers, "check", _killed)
    with pytest.raises(registry.RegistryFileError) as raised:
        await run(conn, path)
    assert raised.value.msg_id == "registry.error.workers_stopped"
    assert await conn.fetchval("SELECT count(*) FROM residents") == 0
    assert not multiprocessing.active_children()


def test_workers_interrupted_while_stopping_are_killed(monkeypatch):
    workers = registry_workers.Workers(2)
    pool = workers.start()
    assert len(multiprocessing.active_children()) == 2

    real_shutdown = pool.shutdown

    def interrupted(**_):
        # A second Ctrl-C lands while shutdown waits: the pool was already told to stop (it
        # spawns no replacement), then the wait is interrupted.
        real_shutdown(wait=False, cancel_futures=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(pool, "shutdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        workers.close()
    # Killed: they are gone once reaped (the pool's own thread may reap them first).
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        for process in multiprocessing.active_children():
            process.join(timeout=0.1)
    assert not multiprocessing.active_children()


async def test_strict_imports_nothing_when_a_row_is_bad(conn, tmp_path):
    bad = list(ROWS[1])
    bad[1] = "hôm qua"
    report = await run(conn, write_csv(tmp_path / "ds.csv", [ROWS[0], bad, ROWS[2]]), strict=True)
    assert not report.committed and report.added == 0
    assert [(r.line, r.reason) for r in report.rejected] == [(3, "date_format")]
    assert await conn.fetchval("SELECT count(*) FROM residents") == 0
    good = await run(conn, write_csv(tmp_path / "ok.csv", [ROWS[0], ROWS[2]]), strict=True)
    assert good.committed and good.added == 2


async def test_ward_option_fills_and_checks_the_ward(conn, tmp_path):
    header = HEADER[:-1]
    path = write_csv(tmp_path / "ds.csv", [r[:-1] for r in ROWS], header=header)
    with pytest.raises(registry.RegistryFileError) as e:
        await run(conn, path)
    assert e.value.msg_id == "registry.error.missing_ward"
    report = await run(conn, path, ward="Phường 27")
    assert report.added == 3
    other = list(ROWS[0])
    other[-1] = "Phường 9"
    report = await run(conn, write_csv(tmp_path / "x.csv", [other]), ward="Phường 27")
    assert [r.reason for r in report.rejected] == ["ward_mismatch"]


def _xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["ho_ten", "ngay_sinh", "phuong"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name
    return make


BROKEN_UTF8 = "ho_ten,ngay_sinh,phuong\nNguyễn Thị Ánh Hồng,1950,Phường 27\n".encode() * 20 + b"\xff\n"


@pytest.mark.parametrize(
    ("make", "msg_id"),
    [
        (lambda d: d / "missing.csv", "registry.error.no_file"),
        (lambda d: (d / "x.pdf").write_text("x") and d / "x.pdf", "registry.error.format"),
        (_write("x.csv", BROKEN_UTF8), "registry.error.not_utf8"),
        (lambda d: write_csv(d / "x.csv", [["A", "1950"]], header=["abc", "xyz"]), "registry.error.no_header"),
        (lambda d: write_csv(d / "x.csv", [["A", "P"]], header=["ho_ten", "phuong"]),
         "registry.error.missing_column"),
        (_write("x.xlsx", b"PK\x03\x04 not really a zip"), "registry.error.bad_xlsx"),
        (_write("empty.csv", b""), "registry.error.empty"),
        (_write("ds.xlsx", b"ho_ten,ngay_sinh,phuong\nA,1950,P\n"), "registry.error.is_csv"),
        (_write("ds.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(100)), "registry.error.not_a_table"),
        (_write("ds.csv", _xlsx_bytes()), "registry.error.is_xlsx"),
        (_write("ds.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)), "registry.error.bad_xlsx"),
    ],
)
async def test_unreadable_files_raise_one_error(conn, tmp_path, make, msg_id):
    with pytest.raises(registry.RegistryFileError) as e:
        await run(conn, make(tmp_path))
    assert e.value.msg_id == msg_id


# ---------------------------------------------------------------- re-import


async def test_reimport_keeps_codes_and_updates_in_place(conn, tmp_path):
    path = write_csv(tmp_path / "ds.csv", ROWS)
    await run(conn, path)
    before = {n: r["code"] for n, r in (await residents(conn)).items()}

    again = await run(conn, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)

    changed = [list(r) for r in ROWS]
    changed[0][5] = "0987 654 321"  # new phone
    changed[0][3] = "0000000001"  # the bare BHXH number instead of the card code
    changed[1][1] = "12/08/1938"  # the day is now known
    changed[2][0] = "LÊ MINH CHÂU"  # matched by insurance code, name re-typed
    report = await run(conn, write_csv(tmp_path / "v2.csv", changed))
    assert (report.added, report.updated, report.unchanged, report.rejected) == (0, 3, 0, [])
    got = {r["id"]: r for r in (await residents(conn)).values()}
    assert {r["code"] for r in got.values()} == set(before.values())
    an = next(r for r in got.values() if r["code"] == before["Nguyễn Văn An"])
    assert an["phone"] == "+84987654321" and an["insurance_code"] == "0000000001"
    binh = next(r for r in got.values() if r["code"] == before["Trần Thị Bình"])
    assert binh["birth_date"] == date(1938, 8, 12)


async def test_blank_cells_keep_what_the_registry_has(conn, tmp_path):
    await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    slim = [[r[0], r[1], r[-1]] for r in ROWS]
    report = await run(conn, write_csv(tmp_path / "slim.csv", slim, header=["ho_ten", "ngay_sinh", "phuong"]))
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    assert (await residents(conn))["Nguyễn Văn An"]["phone"] == "+84912345678"


async def test_natural_key_match_then_identifiers_added(conn, tmp_path):
    bare = [[r[0], r[1], r[2], "", "", "", "", "", "", r[-1]] for r in ROWS]
    await run(conn, write_csv(tmp_path / "a.csv", bare))
    codes_before = {r["code"] for r in (await residents(conn)).values()}
    report = await run(conn, write_csv(tmp_path / "b.csv", ROWS))
    assert (report.added, report.updated) == (0, 3)
    assert {r["code"] for r in (await residents(conn)).values()} == codes_before


async def test_contradicting_identifiers_mean_another_person(conn, tmp_path):
    await run(conn, write_csv(tmp_path / "a.csv", [ROWS[0]]))
    twin = list(ROWS[0])
    twin[3], twin[4] = "HT3790000000077", "079050000077"
    report = await run(conn, write_csv(tmp_path / "b.csv", [twin]))
    assert report.added == 1


async def test_ambiguous_and_conflicting_rows_are_rejected(conn, tmp_path):
    one = ["Hồ Văn Nam", "1940", "Nam", "", "", "", "", "", "", "Phường 27"]
    two = ["Hồ Văn Nam", "02/02/1940", "Nam", "HT3790000000555", "", "", "", "", "", "Phường 27"]
    three = ["Hồ Văn Nam", "03/03/1940", "Nam", "HT3790000000666", "", "", "", "", "", "Phường 27"]
    await run(conn, write_csv(tmp_path / "a.csv", [two, three]))
    report = await run(conn, write_csv(tmp_path / "b.csv", [one]))
    assert [(r.reason, r.vars) for r in report.rejected] == [("ambiguous", {"count": 2})]

    await run(conn, write_csv(tmp_path / "c.csv", [ROWS[0], ROWS[2]]))
    taken = list(ROWS[2])
    taken[4] = ROWS[0][4]  # Châu's card, An's citizen id
    stranger = ["Phan Văn Lạ", "01/01/1990", "Nam", "DN4790000000999", ROWS[0][4], "", "", "", "", "Phường 27"]
    report = await run(conn, write_csv(tmp_path / "d.csv", [taken]))
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [(2, "cccd", "citizen_id_taken")]
    report = await run(conn, write_csv(tmp_path / "e.csv", [stranger]))
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [(2, "ma_bhyt", "insurance_differs")]
    assert (await residents(conn))["Nguyễn Văn An"]["insurance_code"] == ROWS[0][3]


async def test_reimport_skips_applied_rows_until_someone_edits_them(conn, tmp_path):
    path = write_csv(tmp_path / "ds.csv", ROWS)
    await run(conn, path)
    assert await conn.fetchval("SELECT count(*) FROM residents WHERE import_source IS NULL") == 0
    # changed by something other than an import: the trigger forgets the row's source
    await conn.execute("UPDATE residents SET phone = '+84900000000' WHERE full_name = 'Nguyễn Văn An'")
    assert await conn.fetchval("SELECT count(*) FROM residents WHERE import_source IS NULL") == 1
    await conn.execute("UPDATE residents SET code_hash = code_hash")  # a reissue-like write keeps it
    assert await conn.fetchval("SELECT count(*) FROM residents WHERE import_source IS NULL") == 1
    report = await run(conn, path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert (await residents(conn))["Nguyễn Văn An"]["phone"] == "+84912345678"
    again = await run(conn, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


async def test_another_layout_is_checked_again_then_remembered(conn, tmp_path):
    await run(conn, write_csv(tmp_path / "a.csv", ROWS))
    semicolons = write_csv(tmp_path / "b.csv", ROWS, delimiter=";")
    assert (await run(conn, semicolons)).unchanged == 3
    sources = {r["import_source"] for r in await conn.fetch("SELECT import_source FROM residents")}
    assert (await run(conn, semicolons)).unchanged == 3
    assert {r["import_source"] for r in await conn.fetch("SELECT import_source FROM residents")} == sources


async def test_a_rejected_copy_stays_rejected_on_reimport(conn, tmp_path):
    copy = list(ROWS[0])
    copy[5] = "0987 000 111"  # same card, other phone: the second row is a duplicate
    path = write_csv(tmp_path / "ds.csv", [ROWS[0], ROWS[1], copy, list(ROWS[1])])
    first = await run(conn, path)
    assert [(r.line, r.reason) for r in first.rejected] == [(4, "duplicate"), (5, "duplicate_person")]
    again = await run(conn, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert [(r.line, r.reason, r.vars) for r in again.rejected] == [
        (4, "matched_twice", {"other": 2}), (5, "duplicate", {"other": 3})]
    assert (await residents(conn))["Nguyễn Văn An"]["phone"] == "+84912345678"


@pytest.mark.parametrize("first", [True, False], ids=["empty registry", "merge"])
async def test_bulk_path_rebuilds_every_index(conn, tmp_path, monkeypatch, first):
    if not first:
        await run(conn, write_csv(tmp_path / "one.csv", [ROWS[0]]))
    monkeypatch.setattr(registry, "BULK_MIN_ROWS", 1)
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'residents' ORDER BY 1"
    constraints = ("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = 'residents'::regclass OR confrelid = 'residents'::regclass ORDER BY 2")
    before = await conn.fetch(indexes), await conn.fetch(constraints)
    assert len(before[1]) >= 5  # primary key, unique code, and the foreign keys of three tables
    report = await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    assert report.added == (3 if first else 2)
    assert (await conn.fetch(indexes), await conn.fetch(constraints)) == before
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("UPDATE residents SET code_hash = (SELECT code_hash FROM residents LIMIT 1)")


async def test_first_load_never_repeats_a_code(conn, tmp_path, monkeypatch):
    real = codes.new_codes
    draws = []

    def repeating(n):
        draws.append(n)
        return [real(1)[0]] * n if len(draws) == 1 else real(n)

    monkeypatch.setattr(registry.codes, "new_codes", repeating)
    report = await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    assert report.added == 3 and draws == [3, 2]  # the unique index stopped it; two drawn again
    assert await conn.fetchval("SELECT count(DISTINCT code_hash) FROM residents") == 3


async def test_a_code_clash_draws_new_codes(conn, tmp_path, monkeypatch):
    await run(conn, write_csv(tmp_path / "a.csv", [ROWS[0]]))
    [taken] = [r["code"] for r in (await residents(conn)).values()]
    real = codes.new_codes
    draws = []

    def clashing(n):
        draws.append(n)
        return [taken] * n if len(draws) == 1 else real(n)

    monkeypatch.setattr(registry.codes, "new_codes", clashing)
    report = await run(conn, write_csv(tmp_path / "b.csv", [ROWS[1]]))
    assert report.added == 1 and draws == [1, 1]  # the insert met the taken code, then redrew
    assert await conn.fetchval("SELECT count(DISTINCT code_hash) FROM residents") == 2


async def test_import_writes_one_audit_row_without_names(conn, tmp_path):
    await run(conn, write_csv(tmp_path / "ds.csv", ROWS), actor="canbo")
    [row] = await conn.fetch("SELECT * FROM audit_log WHERE action = 'import'")
    assert (row["actor_kind"], row["actor_id"]) == ("cli", "canbo")
    assert "Nguyễn" not in row["details"] and '"added": 3' in row["details"]


# ---------------------------------------------------------------- look-up and reissue


async def test_find_by_code_and_reissue(conn, sessions, tmp_path):
    await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    async with sessions() as s:
        an = next(r for r in [await registry.find(s, str(i)) for i in range(1, 4)] if r.full_name == "Nguyễn Văn An")
        typed = codes.display(an.code).lower().replace("0", "o")
        assert await registry.find_by_code(s, typed) == an
        assert (await registry.find(s, codes.display(an.code))).id == an.id
    async with sessions.begin() as s:
        new = await registry.reissue(s, an.id, actor="canbo")
    assert new != an.code and codes.check(new) == (new, None)
    async with sessions() as s:
        assert await registry.find_by_code(s, an.code) is None
        assert (await registry.find_by_code(s, new)).id == an.id
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "reissue"))).scalar_one()
    assert (audit.actor_kind, audit.resident_id, audit.details) == ("cli", an.id, {})
    async with sessions.begin() as s:
        assert await registry.reissue(s, 999_999) is None


async def test_iter_residents_and_resolve_ward(conn, sessions, tmp_path):
    await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    async with sessions() as s:
        assert await registry.resolve_ward(s, "phuong 27") == "Phường 27"
        assert await registry.resolve_ward(s, "Phường 9") is None
        names = [r.full_name async for r in registry.iter_residents(s, ward="Phường 27", quarter="khu phố 1")]
        everyone = [r async for r in registry.iter_residents(s, ward="Phường 27")]
    assert names == ["Nguyễn Văn An", "Trần Thị Bình"]
    assert len(everyone) == 3 and isinstance(everyone[0], registry.ResidentRow)


def test_header_folding():
    assert fold_header("Số điện thoại (*)") == "so_dien_thoai"
    assert fold_header(" Họ và  Tên ") == "ho_va_ten"
    assert fold_header("ĐỊA CHỈ") == "dia_chi"


# ---------------------------------------------------------------- the commands


@pytest.fixture
def rt(runtime):
    """The real runtime: these commands audit what they show and clear counters in Redis."""
    return runtime


async def test_cli_import_show_list_reissue(rt, conn, tmp_path, capsys):
    path = write_csv(tmp_path / "ds.csv", ROWS + [["Sai", "32/13/2000", "", "", "", "", "", "", "", "Phường 27"]])
    args = cli_residents.argparse.Namespace(file=path, ward=None, strict=False, dry_run=False, max_rejected=None)
    assert await cli_residents.run_import(args, rt) == 1
    out = capsys.readouterr().out
    assert "thêm 3, cập nhật 0, không đổi 0, bị loại 1" in out
    assert "dòng 5, cột ngay_sinh: không có ngày này trên lịch" in out

    code = (await residents(conn))["Nguyễn Văn An"]["code"]
    show = cli_residents.argparse.Namespace(key=codes.display(code), reveal=False)
    assert await cli_residents.run_show(show, rt) == 0
    out = capsys.readouterr().out
    assert codes.mask(code) in out and code not in out and "0912 345 678" in out
    show.reveal = True
    await cli_residents.run_show(show, rt)
    assert code in capsys.readouterr().out

    assert await cli_residents.run_list(cli_residents.argparse.Namespace(ward="phuong 27", quarter=None), rt) == 0
    out = capsys.readouterr().out
    assert "Tổng cộng: 3 cư dân." in out and code not in out and codes.mask(code) in out

    assert await cli_residents.run_reissue(cli_residents.argparse.Namespace(key=code, reveal=False), rt) == 0
    assert "Đã cấp mã mới" in capsys.readouterr().out
    assert await conn.fetchval("SELECT count(*) FROM residents WHERE code_hash = $1", code_vault.digest(code)) == 0


async def test_cli_bad_input_is_one_line_and_exit_2(rt, tmp_path, capsys):
    for path in (tmp_path / "none.csv", tmp_path / "x.ods"):
        path.parent.mkdir(exist_ok=True)
        if path.suffix == ".ods":
            path.write_text("x")
        args = cli_residents.argparse.Namespace(file=path, ward=None, strict=False, dry_run=False, max_rejected=None)
        assert await cli_residents.run_import(args, rt) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("healthbot: ") and "Traceback" not in err
    args = cli_residents.argparse.Namespace(file=write_csv(tmp_path / "x.csv", [["A"]], header=["ho_ten"]),
                                            ward=None, strict=False, dry_run=False, max_rejected=None)
    assert await cli_residents.run_import(args, rt) == 2
    assert "ngay_sinh" in capsys.readouterr().err


async def test_cli_strict_reports_and_imports_nothing(rt, conn, tmp_path, capsys):
    bad = list(ROWS[1])
    bad[2] = "x"
    path = write_csv(tmp_path / "ds.csv", [ROWS[0], bad])
    args = cli_residents.argparse.Namespace(file=path, ward=None, strict=True, dry_run=False, max_rejected=None)
    assert await cli_residents.run_import(args, rt) == 1
    assert "Không nhập gì cả (--strict)" in capsys.readouterr().out
    assert await conn.fetchval("SELECT count(*) FROM residents") == 0


async def test_show_unknown_resident(rt, conn, capsys):
    args = cli_residents.argparse.Namespace(key=codes.new_code(), reveal=False)
    assert await cli_residents.run_show(args, rt) == 1
    assert "•" in capsys.readouterr().err  # the typed code is echoed masked


def test_models_resident_is_what_the_import_writes():
    assert {c.name for c in Resident.__table__.columns} >= set(registry.COLUMNS) - {"line"}


# ---------------------------------------------------------------- files as staff really have them


def _sheet(path: Path, header: list, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


async def test_xlsx_years_typed_as_numbers_are_years(conn, tmp_path):
    path = _sheet(tmp_path / "ds.xlsx", ["Họ tên", "Năm sinh", "Phường"],
                  [["Trần Văn Minh", 1989, "Phường 27"], ["Lê Thị Lan", 1948.0, "Phường 27"]])
    report = await run(conn, path)
    assert report.added == 2 and not report.rejected
    got = await residents(conn)
    assert (got["Trần Văn Minh"]["birth_date"], got["Trần Văn Minh"]["birth_year"]) == (None, 1989)
    assert got["Lê Thị Lan"]["birth_year"] == 1948


async def test_month_first_dates_are_read_month_first(conn, tmp_path):
    # a US Excel export: 12/25/1980 can only be month/day, so 03/05/1950 is 5 March
    rows = [["Nguyễn Văn An", "03/05/1950", "Phường 27"], ["Trần Thị Bình", "12/25/1980", "Phường 27"]]
    report = await run(conn, write_csv(tmp_path / "us.csv", rows, header=["Name", "Date of birth", "Ward"]))
    assert report.added == 2 and not report.rejected and report.date_order == "mdy"
    got = await residents(conn)
    assert got["Nguyễn Văn An"]["birth_date"] == date(1950, 3, 5)
    assert got["Trần Thị Bình"]["birth_date"] == date(1980, 12, 25)


async def test_month_first_seen_only_late_in_a_large_file_rereads_it(conn, tmp_path, monkeypatch):
    from storage import registry_rows  # noqa: PLC0415

    monkeypatch.setattr(registry_rows, "DATE_SAMPLE_LINES", 5)  # the first lines say nothing
    rows = _people(50)
    for i, row in enumerate(rows):
        row[1] = f"{1 + i % 12:02d}/{1 + i % 12:02d}/1960"  # reads the same either way
    rows[3][1] = "04/05/1970"
    rows[45][1] = "12/25/1980"  # only here: month first
    report = await run(conn, write_csv(tmp_path / "late.csv", rows))
    assert report.added == 50 and report.date_order == "mdy"
    assert await conn.fetchval("SELECT birth_date FROM residents WHERE full_name = $1", rows[3][0]) == date(1970, 4, 5)


async def test_a_file_with_both_orders_refuses_the_dates_that_read_both_ways(conn, tmp_path):
    rows = [["Nguyễn Văn An", "25/12/1950", "Phường 27"], ["Trần Thị Bình", "12/25/1980", "Phường 27"],
            ["Lê Văn Cường", "03/05/1970", "Phường 27"], ["Phạm Thị Dung", "07/07/1971", "Phường 27"]]
    report = await run(conn, write_csv(tmp_path / "mixed.csv", rows, header=["Họ tên", "Ngày sinh", "Phường"]))
    assert report.date_order == "either" and report.added == 3
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [(4, "Ngày sinh", "date_order")]
    got = await residents(conn)
    assert got["Nguyễn Văn An"]["birth_date"] == date(1950, 12, 25)
    assert got["Trần Thị Bình"]["birth_date"] == date(1980, 12, 25)


async def test_mostly_rejected_file_imports_nothing_and_says_why(conn, tmp_path):
    garbage = [[f"bePoq{i}XR", f"ymVPo/{i}duqrl", "x"] for i in range(60)]
    path = write_csv(tmp_path / "junk.csv", [["Nguyễn Văn An", "05/03/1950", "Phường 27"], *garbage],
                     header=["ho_ten", "ngay_sinh", "phuong"])
    report = await run(conn, path)
    assert report.stopped == "too_many" and not report.committed and report.added == 0
    assert len(report.rejected) == 60 and report.rows == 61
    assert await conn.fetchval("SELECT count(*) FROM residents") == 0
    relaxed = await run(conn, path, max_rejected=1.0)  # the threshold is configurable
    assert relaxed.committed and relaxed.added == 1


async def test_header_spellings_staff_use(conn, tmp_path):
    header = ["STT", "Họ và tên", "Năm sinh", "Giới", "Số CMND/CCCD", "Điện thoại", "Địa chỉ thường trú", "KP",
              "Tổ", "Phường/Xã", "Dân tộc (ghi chú)"]
    row = ["1", "Võ Thị Hoa", "1961", "Nữ", "079161000123", "0912345678", "12 Nguyễn Xí", "KP1", "Tổ 3",
           "Phường 27", "Kinh"]
    path = write_csv(tmp_path / "ds.csv", [row], header=header)
    report = await run(conn, path)
    assert report.added == 1 and not report.rejected
    assert report.unknown_columns == ["Dân tộc (ghi chú)"] and "STT" in report.ignored_columns
    hoa = (await residents(conn))["Võ Thị Hoa"]
    assert (hoa["birth_year"], hoa["sex"], hoa["citizen_id"], hoa["phone"]) == (1961, "F", "079161000123",
                                                                                  "+84912345678")
    assert (hoa["address"], hoa["quarter"], hoa["group_name"], hoa["ward"]) == ("12 Nguyễn Xí", "KP1", "Tổ 3",
                                                                                  "Phường 27")
    with pytest.raises(registry.RegistryFileError) as e:
        await run(conn, path, strict=True)
    assert e.value.msg_id == "registry.error.unknown_columns" and "Dân tộc" in e.value.vars["columns"]


TONES = "\u0300\u0301\u0303\u0309\u0323"


def windows_1258(text: str) -> bytes:
    """As Vietnamese Windows writes it: letters with their shape marks (â, ơ, ư…), the tone
    as a combining mark after them."""
    out = b""
    for c in text:
        try:
            out += c.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", c)
            shape = unicodedata.normalize("NFC", "".join(p for p in parts if p not in TONES))
            out += (shape + "".join(p for p in parts if p in TONES)).encode("cp1258")
    return out


@pytest.mark.parametrize("encoding", ["utf-16", "cp1258"])
async def test_unicode_text_and_windows_1258_tab_files(conn, tmp_path, encoding):
    text = "Họ tên\tNgày sinh\tGiới tính\tPhường\r\nNguyễn Thị Ánh Hồng\t05/03/1950\tNữ\tPhường 27\r\n" \
           "Đặng Văn Hùng\t1938\tNam\tPhường 27\r\n"
    path = tmp_path / "ds.txt"
    path.write_bytes(text.encode(encoding) if encoding == "utf-16" else windows_1258(text))
    report = await run(conn, path)
    assert report.added == 2 and not report.rejected, report.rejected
    got = await residents(conn)
    assert got["Nguyễn Thị Ánh Hồng"]["birth_date"] == date(1950, 3, 5)
    assert got["Đặng Văn Hùng"]["sex"] == "M"


async def test_old_excel_xls(conn, tmp_path):
    import xlwt  # noqa: PLC0415 - only to make the test file

    book = xlwt.Workbook()
    sheet = book.add_sheet("DS")
    for col, text in enumerate(["Họ tên", "Ngày sinh", "Năm sinh", "Phường"]):
        sheet.write(0, col, text)
    sheet.write(1, 0, "Võ Thị Hoa")
    sheet.write(1, 1, datetime(1961, 12, 1), xlwt.easyxf(num_format_str="dd/mm/yyyy"))
    sheet.write(1, 3, "Phường 27")
    sheet.write(2, 0, "Bùi Văn Tú")
    sheet.write(2, 1, 1970)  # a year typed as a number
    sheet.write(2, 3, "Phường 27")
    path = tmp_path / "ds.xls"
    book.save(str(path))
    report = await run(conn, path)
    assert report.added == 2 and not report.rejected, report.rejected
    got = await residents(conn)
    assert got["Võ Thị Hoa"]["birth_date"] == date(1961, 12, 1)
    assert got["Bùi Văn Tú"]["birth_year"] == 1970


# ---------------------------------------------------------------- dry run, status, walk-ins


async def test_dry_run_reports_added_changed_and_missing_and_writes_nothing(conn, tmp_path):
    await run(conn, write_csv(tmp_path / "v1.csv", ROWS))
    before = await conn.fetch("SELECT * FROM residents ORDER BY id")
    audits = await conn.fetchval("SELECT count(*) FROM audit_log")
    changed = [list(ROWS[0]), ["Phan Văn Mới", "01/01/1990", "Nam", "", "", "", "", "", "", "Phường 27"]]
    changed[0][5] = "0987 654 321"
    report = await run(conn, write_csv(tmp_path / "v2.csv", changed), dry_run=True)
    assert report.stopped == "dry_run" and not report.committed
    assert (report.added, report.updated, report.unchanged) == (1, 1, 0)
    [change] = report.changes
    assert change.name == "Nguyễn Văn An" and change.fields == [("phone", "+84912345678", "+84987654321")]
    assert {m.name for m in report.missing} == {"Trần Thị Bình", "Lê Minh Châu"} and report.missing_count == 2
    assert await conn.fetch("SELECT * FROM residents ORDER BY id") == before
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == audits
    # the same list again: nothing to add or change, nobody missing
    again = await run(conn, write_csv(tmp_path / "v1.csv", ROWS), dry_run=True)
    assert (again.added, again.updated, again.unchanged, again.missing_count) == (0, 0, 3, 0)


async def test_moved_and_deceased_leave_stats_and_reminders(conn, sessions, tmp_path):
    from dialogs.ports import Audience  # noqa: PLC0415
    from storage import broadcasts, stats  # noqa: PLC0415
    from tests.staffdata import Town  # noqa: PLC0415

    await run(conn, write_csv(tmp_path / "ds.csv", ROWS))
    ids = {r["full_name"]: r["id"] for r in await conn.fetch("SELECT id, full_name FROM residents")}
    town = Town(sessions)
    account = await town.account()
    for rid in ids.values():
        await town.link(account, rid)
    async with sessions.begin() as s:
        await registry.set_status(s, ids["Trần Thị Bình"], "deceased", actor="canbo")
    now = datetime.now().astimezone()
    async with sessions() as s:
        report = await stats.report(s, "Phường 27", now)
        [(_, _, reached)] = (await s.execute(broadcasts.audience_select(
            Audience("Phường 27", True, None, False, None), now))).all()
    assert report.rows[0].residents == 2
    assert sorted(reached) == sorted([ids["Nguyễn Văn An"], ids["Lê Minh Châu"]])
    status = await conn.fetchval("SELECT status FROM residents WHERE id = $1", ids["Trần Thị Bình"])
    assert status == "deceased"
    [audit] = await conn.fetch("SELECT * FROM audit_log WHERE action = 'resident_status'")
    assert audit["resident_id"] == ids["Trần Thị Bình"] and '"deceased"' in audit["details"]


def ns(**kw) -> cli_residents.argparse.Namespace:
    return cli_residents.argparse.Namespace(**kw)


async def test_cli_dry_run_prints_changes_and_missing_people(rt, conn, tmp_path, capsys):
    await run(conn, write_csv(tmp_path / "v1.csv", ROWS))
    changed = [list(ROWS[0])]
    changed[0][5] = "0987 654 321"
    args = ns(file=write_csv(tmp_path / "v2.csv", changed), ward=None, strict=False, dry_run=True, max_rejected=None)
    assert await cli_residents.run_import(args, rt) == 0
    out = capsys.readouterr().out
    assert "Thử trước, không ghi gì" in out and "sẽ thêm 0, cập nhật 1" in out
    assert "Nguyễn Văn An: Điện thoại 0912 345 678 → 0987 654 321" in out
    assert "Có trong sổ nhưng không có trong tệp (2 người" in out and "Trần Thị Bình (1938)" in out
    assert await conn.fetchval("SELECT phone FROM residents WHERE full_name = 'Nguyễn Văn An'") == "+84912345678"


async def test_cli_set_status_and_bad_status(rt, conn, tmp_path, capsys):
    await run(conn, write_csv(tmp_path / "v1.csv", ROWS))
    code = code_vault.unseal(await conn.fetchval("SELECT code_sealed FROM residents WHERE full_name = 'Trần Thị Bình'"))
    assert await cli_residents.run_set_status(ns(key=codes.display(code), status="moved"), rt) == 0
    assert "đã chuyển đi" in capsys.readouterr().out
    assert await conn.fetchval("SELECT status FROM residents WHERE full_name = 'Trần Thị Bình'") == "moved"
    assert await cli_residents.run_set_status(ns(key=code, status="gone"), rt) == 2
    assert capsys.readouterr().err.count("\n") == 1


def _walk_in(**kw) -> cli_residents.argparse.Namespace:
    values = dict(name="Phan Thị Mai", born="07/08/1990", ward="Phường 27", sex="Nữ", quarter="Khu phố 2",
                  group=None, insurance=None, citizen_id="079190000321", phone="0912 000 111", address=None,
                  reveal=True)
    return ns(**{**values, **kw})


async def test_cli_add_a_walk_in_with_the_import_checks(rt, conn, tmp_path, capsys):
    await run(conn, write_csv(tmp_path / "v1.csv", ROWS))  # the ward is known as "Phường 27"
    assert await cli_residents.run_add(_walk_in(ward="phuong 27"), rt) == 0
    row = await conn.fetchrow("SELECT * FROM residents WHERE full_name = 'Phan Thị Mai'")
    assert (row["birth_date"], row["sex"], row["phone"], row["quarter"]) == (date(1990, 8, 7), "F", "+84912000111",
                                                                            "Khu phố 2")
    assert row["ward"] == "Phường 27"
    assert code_vault.unseal(row["code_sealed"]) in capsys.readouterr().out  # --reveal: the code to write on the card
    assert await cli_residents.run_add(_walk_in(phone="0912 000 222"), rt) == 0  # the same person again
    assert "đã có trong sổ" in capsys.readouterr().out
    assert await conn.fetchval("SELECT count(*) FROM residents") == 4
    assert await conn.fetchval("SELECT phone FROM residents WHERE full_name = 'Phan Thị Mai'") == "+84912000222"
    assert await cli_residents.run_add(_walk_in(name="Lê Văn Sai", born="31/02/1990"), rt) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--born" in err and "không có ngày này trên lịch" in err
    assert await conn.fetchval("SELECT count(*) FROM residents") == 4


async def test_cli_cards_for_one_code(rt, conn, tmp_path, capsys):
    await run(conn, write_csv(tmp_path / "v1.csv", ROWS))
    code = code_vault.unseal(await conn.fetchval("SELECT code_sealed FROM residents WHERE full_name = 'Trần Thị Bình'"))
    rt.settings = rt.settings.model_copy(update={"bot_username": "healthbot_test_bot"})
    out = tmp_path / "one.pdf"
    args = ns(ward=None, code=codes.display(code), quarter=None, group=None, out=out, format="pdf", workers=None)
    assert await cli_residents.run_cards(args, rt) == 0
    assert "Đã làm 1 thẻ" in capsys.readouterr().out and out.stat().st_size > 0
    args.out = tmp_path  # a folder where a PDF file was meant
    assert await cli_residents.run_cards(args, rt) == 2
    assert capsys.readouterr().err.count("\n") == 1
