"""Cutting plain CSV lines into columns: the fast path must agree with line-by-line."""

from hypothesis import given
from hypothesis import strategies as st

from storage.registry_rows import split_columns

cell = st.text(alphabet="ab ;,", max_size=3)
line = st.lists(cell, min_size=1, max_size=5).map(",".join)


def by_line(text: str, width: int) -> list[list[str]]:
    rows = [(line.split(",") + [""] * width)[:width] for line in text.split("\n")]
    return [list(column) for column in zip(*rows, strict=True)]


@given(st.lists(line, min_size=1, max_size=8).filter(any), st.integers(min_value=1, max_value=5))
def test_columns_agree_with_splitting_line_by_line(lines, width):
    text = "\n".join(lines)  # ("" is no line at all: a chunk whose lines were all blank)
    assert split_columns(text, ",", width) == by_line(text, width)


@given(st.lists(st.lists(cell.filter(lambda c: "," not in c), min_size=3, max_size=3).map(",".join), min_size=1))
def test_aligned_lines_take_the_fast_path_and_keep_every_cell(lines):
    text = "\n".join(lines)
    columns = split_columns(text, ",", 3)
    assert [",".join(row) for row in zip(*columns, strict=True)] == lines
