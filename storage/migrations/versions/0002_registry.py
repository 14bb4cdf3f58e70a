"""resident registry: match keys for imports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 16:00:00

Imports match a resident by social-insurance number, else citizen id, else
(ward, name, birth year). Generated columns keep those keys in step with the data
whoever writes it; the unique partial indexes make the identifiers one-per-person.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "residents",
        sa.Column("insurance_key", sa.Text(), sa.Computed("right(insurance_code, 10)", persisted=True)),
    )
    op.add_column(
        "residents",
        sa.Column("name_key", sa.Text(), sa.Computed("lower(full_name)", persisted=True), nullable=False),
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
    op.create_index("ix_residents_natural", "residents", ["ward", "name_key", "birth_year"])


def downgrade() -> None:
    op.drop_index("ix_residents_natural", table_name="residents")
    op.drop_index("uq_residents_citizen_id", table_name="residents")
    op.drop_index("uq_residents_insurance_key", table_name="residents")
    op.drop_column("residents", "name_key")
    op.drop_column("residents", "insurance_key")
