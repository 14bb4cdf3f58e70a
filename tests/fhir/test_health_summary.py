"""The one-page PDF health-book summary, on its own: always one page, in the person's language."""

from datetime import date, datetime

import pypdfium2 as pdfium

from bot.health_summary import health_summary
from dialogs.questionnaire import typed_columns
from tests.fhir.seed import answers_for

PERSON = {"full_name": "Trần Văn Bình", "birth_date": None, "birth_year": 1948, "sex": "M", "code": "ABCD1234EFGH56",
          "citizen_id": None, "insurance_code": None, "phone": None, "address": "7 Lê Lợi", "group_name": "Tổ 2",
          "quarter": "Khu phố 3", "ward": "Phường 27"}


def text_of(pdf: bytes) -> tuple[int, str]:
    doc = pdfium.PdfDocument(pdf)
    return len(doc), "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))


def test_not_yet_declared_is_said_on_one_page():
    pages, text = text_of(health_summary({"generated_at": datetime(2026, 12, 1, 9, 0), "resident": PERSON,
                                          "declarations": []}, "vi", "Trạm Y tế Phường 27"))
    assert pages == 1
    assert "Chưa có lần khai báo" in text and "1948" in text and "01/12/2026" in text


def test_in_english_with_every_answer_still_one_page():
    a = answers_for(3, "M", 72, "7 Lê Lợi " * 30) | {"occupation": "Thợ sửa xe " * 20}
    d = {"version": 3, "submitted_at": datetime(2026, 11, 2, 8, 0), "answers": a, **typed_columns(a)}
    person = PERSON | {"birth_date": date(1948, 5, 6), "phone": "+84912345678"}
    pages, text = text_of(health_summary({"generated_at": datetime(2026, 12, 1), "resident": person,
                                          "declarations": [d]}, "en", "Ward 27 health station"))
    assert pages == 1
    assert "HEALTH BOOK" in text and "06/05/1948" in text and "0912 345 678" in text
    assert "High blood pressure" in text and "…" in text  # the long answers cut to their line
