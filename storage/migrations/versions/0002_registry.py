"""resident registry: match keys for imports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 16:00:00

Imports match a resident by social-insurance number, else citizen id, else
(ward, name, birth year). insurance_key is generated, so it stays in step whoever writes
the row; the unique partial indexes make the identifiers one-per-person. import_source
lets a re-import skip the file rows it has already applied; a trigger forgets it as soon
as the row's content is changed by anything that does not set it. The natural key has
neither a stored lower-case name nor an index: imports match it with a hash join on
lower(full_name), and on a million rows keeping either costs more than it saves.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


FORGET_FUNCTION = """
CREATE FUNCTION residents_forget_import_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.import_source := NULL;
    RETURN NEW;
END $$
"""
FORGET_TRIGGER = """
CREATE TRIGGER residents_import_source_stale BEFORE UPDATE ON residents FOR EACH ROW
WHEN (NEW.import_source IS NOT DISTINCT FROM OLD.import_source
      AND (NEW.ward, NEW.quarter, NEW.group_name, NEW.full_name, NEW.birth_date, NEW.birth_year,
           NEW.sex, NEW.insurance_code, NEW.citizen_id, NEW.phone, NEW.address)
          IS DISTINCT FROM
          (OLD.ward, OLD.quarter, OLD.group_name, OLD.full_name, OLD.birth_date, OLD.birth_year,
           OLD.sex, OLD.insurance_code, OLD.citizen_id, OLD.phone, OLD.address))
EXECUTE FUNCTION residents_forget_import_source()
"""


def upgrade() -> None:
    # identifiers are ASCII: byte order sorts them faster when their indexes are rebuilt
    op.alter_column("residents", "code", type_=sa.String(16, collation="C"))
    op.alter_column("residents", "citizen_id", type_=sa.Text(collation="C"))
    op.add_column(
        "residents",
        sa.Column(
            "insurance_key", sa.Text(collation="C"), sa.Computed("right(insurance_code, 10)", persisted=True)
        ),
    )
    op.add_column("residents", sa.Column("import_source", sa.LargeBinary()))
    op.execute(FORGET_FUNCTION)
    op.execute(FORGET_TRIGGER)
    op.create_index(
        "uq_residents_insurance_key",
        "residents",
        ["insurance_key"],
        unique=True,
        postgresql_where=sa.text("insurance_key IS NOT NULL"),
    )
    op.create_index(
        "uq_residents_citizen_id",
        "residents",
        ["citizen_id"],
        unique=True,
        postgresql_where=sa.text("citizen_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_residents_citizen_id", table_name="residents")
    op.drop_index("uq_residents_insurance_key", table_name="residents")
    op.execute("DROP TRIGGER residents_import_source_stale ON residents")
    op.execute("DROP FUNCTION residents_forget_import_source()")
    op.drop_column("residents", "import_source")
    op.drop_column("residents", "insurance_key")
    op.alter_column("residents", "citizen_id", type_=sa.Text())
    op.alter_column("residents", "code", type_=sa.String(16))
