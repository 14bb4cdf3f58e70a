"""resident registry: match keys for imports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 16:00:00

Imports match a resident by social-insurance number, else citizen id, else
(ward, name, birth year), and set aside rows whose content (fingerprint) the registry
already holds. Generated columns keep those keys in step with the data whoever writes it;
the unique partial indexes make the identifiers one-per-person. The natural key has
neither a stored lower-case name nor an index: imports match it with a hash join on
lower(full_name), and on a million rows keeping either costs more than it saves.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# A snapshot of storage.models._RESIDENT_FINGERPRINT at this revision.
FINGERPRINT = (
    "substr(decode(md5("
    "coalesce(ward, E'\\x1e') || E'\\x1f' || coalesce(quarter, E'\\x1e') || E'\\x1f' || "
    "coalesce(group_name, E'\\x1e') || E'\\x1f' || coalesce(full_name, E'\\x1e') || E'\\x1f' || "
    "coalesce((birth_date - DATE '1900-01-01')::text, E'\\x1e') || E'\\x1f' || "
    "coalesce(birth_year::text, E'\\x1e') || E'\\x1f' || coalesce(sex, E'\\x1e') || E'\\x1f' || "
    "coalesce(insurance_code, E'\\x1e') || E'\\x1f' || coalesce(citizen_id, E'\\x1e') || E'\\x1f' || "
    "coalesce(phone, E'\\x1e') || E'\\x1f' || coalesce(address, E'\\x1e')), 'hex'), 1, 8)"
)


def upgrade() -> None:
    op.add_column(
        "residents",
        sa.Column("insurance_key", sa.Text(), sa.Computed("right(insurance_code, 10)", persisted=True)),
    )
    op.add_column(
        "residents",
        sa.Column("fingerprint", sa.LargeBinary(), sa.Computed(FINGERPRINT, persisted=True)),
    )
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
    op.drop_column("residents", "fingerprint")
    op.drop_column("residents", "insurance_key")
