"""security: card codes at rest as a keyed hash and a sealed copy; registry text cleaned;
a note beside an erasure decision's reason code; cards locked against new links

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:00:00

Codes already issued are converted in place with the process's CODE_SECRET
(storage/code_vault.py; `healthbot db upgrade` and start-up set it before migrating), so
printed cards keep working. Names, wards, quarters, groups and addresses lose the
invisible characters (bidirectional overrides, zero-width spaces) that imports now drop.
"""

import sqlalchemy as sa
from alembic import op

from dialogs.text import INVISIBLE
from storage import code_vault

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 10_000
TEXT_COLUMNS = ("full_name", "ward", "quarter", "group_name", "address")


def _convert(bind, select: str, update: str, convert) -> None:
    rows = bind.execute(sa.text(select)).all()
    if rows:
        code_vault.vault()  # no CODE_SECRET: stop before changing anything
    for start in range(0, len(rows), BATCH):
        bind.execute(sa.text(update), [convert(*row) for row in rows[start : start + BATCH]])


def upgrade() -> None:
    op.add_column("residents", sa.Column("code_hash", sa.LargeBinary(), nullable=True))
    op.add_column("residents", sa.Column("code_sealed", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    _convert(bind, "SELECT id, code FROM residents",
             "UPDATE residents SET code_hash = :h, code_sealed = :s WHERE id = :id",
             lambda id_, code: {"id": id_, "h": code_vault.digest(code), "s": code_vault.seal(code)})
    op.alter_column("residents", "code_hash", nullable=False)
    op.alter_column("residents", "code_sealed", nullable=False)
    op.drop_constraint("residents_code_key", "residents", type_="unique")
    op.drop_column("residents", "code")
    op.create_unique_constraint("residents_code_hash_key", "residents", ["code_hash"])
    invisible = INVISIBLE.pattern
    for column in TEXT_COLUMNS:
        bind.execute(sa.text(f"UPDATE residents SET {column} = regexp_replace({column}, :p, '', 'g') "
                             f"WHERE {column} ~ :p"), {"p": invisible})
    op.add_column("deletion_requests", sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "card_locks",
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("card_locks")
    op.drop_column("deletion_requests", "note")
    op.add_column("residents", sa.Column("code", sa.String(16, collation="C"), nullable=True))
    _convert(op.get_bind(), "SELECT id, code_sealed FROM residents",
             "UPDATE residents SET code = :c WHERE id = :id",
             lambda id_, sealed: {"id": id_, "c": code_vault.unseal(sealed)})
    op.alter_column("residents", "code", nullable=False)
    op.drop_constraint("residents_code_hash_key", "residents", type_="unique")
    op.drop_column("residents", "code_sealed")
    op.drop_column("residents", "code_hash")
    op.create_unique_constraint("residents_code_key", "residents", ["code"])
