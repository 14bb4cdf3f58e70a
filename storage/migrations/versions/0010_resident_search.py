"""residents: search by name without diacritics, and by phone

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-01 10:45:00

The staff console finds residents by a name typed without diacritics. The folded form is
lower(translate(full_name, <Vietnamese letters>, <ASCII letters>)): immutable, so it can
be indexed, and the same on every server. `unaccent` would do the same fold but is only
STABLE (indexing it needs a wrapper function) and, like pg_trgm, is missing from the
embedded server (the `pgserver` package ships plpgsql and vector only). So:

- with pg_trgm (the machine's and the Docker PostgreSQL): a trigram GIN index on the folded
  name, for any part of a name ("lan" finds "Trần Thị Lan");
- without it (embedded): a btree on the folded name (text_pattern_ops), fast for a name's
  start; a search within one ward still reads only that ward's rows (ix_residents_ward).

storage/console.py builds the same expression with the same constants (FOLDED_NAME_SQL).
"""

from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

_VI = "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
_VI += _VI.upper()
_ASCII = ("aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd") * 2
FOLDED = f"lower(translate(full_name, '{_VI}', '{_ASCII}'))"


def upgrade() -> None:
    bind = op.get_bind()
    has_trgm = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first() is not None
    if has_trgm:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_residents_name_folded ON residents USING gin (({FOLDED}) gin_trgm_ops)")
    else:
        op.execute(f"CREATE INDEX ix_residents_name_folded ON residents (({FOLDED}) text_pattern_ops)")
    op.execute("CREATE INDEX ix_residents_phone ON residents (phone) WHERE phone IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_residents_phone")
    op.execute("DROP INDEX IF EXISTS ix_residents_name_folded")
