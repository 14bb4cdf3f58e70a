"""residents: status (active, moved, deceased)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:45:00

Staff mark a resident who moved away or died (`healthbot residents set-status`); such
residents stay in the registry (their declarations are records) but leave completion
statistics and reminders.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("residents", sa.Column("status", sa.String(12), nullable=False, server_default="active"))
    op.add_column("residents", sa.Column("status_changed_at", sa.DateTime(timezone=True)))
    op.create_check_constraint("ck_residents_status", "residents", "status IN ('active', 'moved', 'deceased')")


def downgrade() -> None:
    op.drop_constraint("ck_residents_status", "residents", type_="check")
    op.drop_column("residents", "status_changed_at")
    op.drop_column("residents", "status")
