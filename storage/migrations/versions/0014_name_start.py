"""residents: names found by their first words ("nguyen van") in one index range

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:25:00

Staff also type a name from its start, family and middle name first, as it is written.
0013 answered that from the words index, whose lists of common words ("nguyen", "van") are
read whole before the first row: 7–11 ms at 1,000,000 residents, and the slowest page of the
console bench. A btree on the folded name makes the names beginning with the typed words one
range, read in order and left once a page is full, as ix_residents_name_end does for the end.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('CREATE INDEX ix_residents_name_start ON residents ((name_folded COLLATE "C"), ward, status)')


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_residents_name_start")
