"""residents: name search by whole words from the end of the name, then by words anywhere;
residents who moved away or died found without reading the ward

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 13:30:00

Staff type a given name, a middle and given name, or the whole name: the end of the name.
0010's trigram index answered "minh tuan" by intersecting the long lists of common trigrams
(and "thi lan" by intersecting "thi", half the registry): 15–30 ms at 1,000,000 residents,
read in full before the first row. Instead:

- ix_residents_name_end: a btree on the folded name spelled backwards, so the names ending
  with the typed words are one contiguous range ("naut hnim" for "minh tuan"), read in index
  order and left as soon as a page is full (under 1 ms);
- ix_residents_name_words: a GIN index of the name's words (to_tsvector 'simple': no
  stemming), for what is not the end of a name ("nguyen van", a given name still being
  typed);
- ix_residents_not_active: the few residents marked moved or deceased, for those filters.

All three are core PostgreSQL (the embedded server has them too), and together they cost a
first import about what the trigram index did.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_residents_name_folded")
    op.execute('CREATE INDEX ix_residents_name_end ON residents ((reverse(name_folded) COLLATE "C"), ward, status)')
    op.execute("CREATE INDEX ix_residents_name_words ON residents USING gin (to_tsvector('simple', name_folded))")
    op.execute("CREATE INDEX ix_residents_not_active ON residents (ward, id) WHERE status IN ('moved', 'deceased')")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_residents_not_active")
    op.execute("DROP INDEX IF EXISTS ix_residents_name_words")
    op.execute("DROP INDEX IF EXISTS ix_residents_name_end")
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is not None:
        op.execute("CREATE INDEX ix_residents_name_folded ON residents USING gin (name_folded gin_trgm_ops)")
    else:
        op.execute("CREATE INDEX ix_residents_name_folded ON residents (name_folded text_pattern_ops)")
