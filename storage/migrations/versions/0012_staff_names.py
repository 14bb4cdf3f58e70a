"""staff: full names

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00

The console, its audit log and `healthbot staff list` show who a staff member is by name,
with the messenger address beside it. Staff added before this keep their rows with an
empty name (shown as their address) until an admin names them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("full_name", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("staff", "full_name")
