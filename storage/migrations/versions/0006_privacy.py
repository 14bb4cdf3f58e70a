"""deletion requests: a resident asks for erasure, ward staff decide

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

At most one open request per resident; open requests by ward and age, for the list
staff work through and the "older than 72 hours" flag in the statistics.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletion_requests",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("locale", sa.String(length=8), server_default="vi", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="open", nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_deletion_requests_open", "deletion_requests", ["resident_id"], unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index(
        "ix_deletion_requests_open_at", "deletion_requests", ["ward", "requested_at"],
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_deletion_requests_open_at", table_name="deletion_requests")
    op.drop_index("uq_deletion_requests_open", table_name="deletion_requests")
    op.drop_table("deletion_requests")
