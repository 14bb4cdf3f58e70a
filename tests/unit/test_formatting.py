"""Numbers, dates, percentages and plurals per locale (Babel), and spreadsheet cells."""

from datetime import date, datetime
from decimal import Decimal

from locales import formatting
from storage.sheets import csv_cell


def test_numbers_and_percentages_per_locale():
    assert formatting.number(65.5, "vi") == "65,5" and formatting.number(65.5, "en") == "65.5"
    assert formatting.number(1234.5, "vi") == "1.234,5" and formatting.number(1234.5, "en") == "1,234.5"
    assert formatting.number(1234.5, "vi", grouping=False) == "1234,5"
    assert formatting.number(61, "vi") == "61"
    assert formatting.percent(1, 3, "vi") == "33,3%" and formatting.percent(1, 3, "en") == "33.3%"
    assert formatting.percent(0, 0, "vi") == "-"


def test_dates_are_day_month_year_in_both_languages():
    assert formatting.day(date(1950, 3, 5), "en") == "05/03/1950"
    assert formatting.moment(datetime(2026, 12, 1, 8, 5), "vi") == "01/12/2026 08:05"


def test_plurals():
    assert formatting.plural(1, "en", "export.exported.", path="x") == "Wrote 1 resident to x"
    assert formatting.plural(2, "en", "export.exported.", path="x") == "Wrote 2 residents to x"
    assert formatting.plural(1, "vi", "export.exported.", path="x") == "Đã ghi 1 người vào x"


def test_csv_cells_are_in_the_readers_language_and_safe():
    assert csv_cell(Decimal("61.5"), "vi") == "61,5" and csv_cell(Decimal("61.5"), "en") == "61.5"
    assert csv_cell(date(1950, 3, 5), "vi") == "05/03/1950"
    assert csv_cell(None, "vi") == "" and csv_cell(3, "vi") == "3"
    assert csv_cell("=1+1", "vi") == "'=1+1"
