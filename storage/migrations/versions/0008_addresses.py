"""accounts: a person on a messenger is an address "channel:id", not a Telegram id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:45:00

Every Telegram id becomes the address "telegram:<id>" wherever it is stored (accounts,
links, consents, declarations' submitter, staff, deliveries, deletion requests, broadcasts'
progress chat, and the audit log's account and staff actors), so nothing is lost and a
second messenger (Zalo) needs no schema change. Private chats are the only ones the bot
answers, and there Telegram's chat id is the user id: the separate chat_id columns go.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_FKS = (("links", "account_id"), ("consents", "account_id"), ("deliveries", "account_id"))


def upgrade() -> None:
    for table, col in _FKS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{col}_fkey")
    op.execute("ALTER TABLE accounts RENAME COLUMN telegram_id TO address")
    op.execute("ALTER TABLE accounts ALTER COLUMN address TYPE text USING 'telegram:' || address")
    op.execute("ALTER TABLE accounts DROP COLUMN chat_id")
    op.execute("ALTER TABLE accounts ADD COLUMN channel text GENERATED ALWAYS AS (split_part(address, ':', 1)) STORED")
    op.execute("ALTER TABLE accounts ADD CONSTRAINT ck_accounts_address CHECK (address ~ '^[a-z]+:.+$')")
    # When a declaration in progress started: kept in PostgreSQL so that a Redis that lost its
    # data can be told apart from a person who had nothing under way.
    op.execute("ALTER TABLE accounts ADD COLUMN draft_since timestamptz")
    for table, col in _FKS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE text USING 'telegram:' || {col}")
    op.execute("ALTER TABLE links ADD CONSTRAINT links_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(address)")
    op.execute("ALTER TABLE consents ADD CONSTRAINT consents_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(address)")
    op.execute("ALTER TABLE deliveries ADD CONSTRAINT deliveries_account_id_fkey FOREIGN KEY (account_id) "
               "REFERENCES accounts(address) ON DELETE CASCADE")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_broadcast_chat")
    op.execute("ALTER TABLE deliveries DROP COLUMN chat_id")
    op.execute("ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_broadcast_account UNIQUE (broadcast_id, account_id)")
    op.execute("ALTER TABLE declarations ALTER COLUMN submitted_by TYPE text USING 'telegram:' || submitted_by")
    op.execute("ALTER TABLE staff RENAME COLUMN telegram_id TO account")
    op.execute("ALTER TABLE staff ALTER COLUMN account TYPE text USING 'telegram:' || account")
    op.execute("ALTER TABLE deletion_requests ALTER COLUMN requested_by TYPE text USING 'telegram:' || requested_by")
    op.execute("ALTER TABLE deletion_requests DROP COLUMN chat_id")
    op.execute("ALTER TABLE broadcasts RENAME COLUMN notify_chat_id TO notify_account")
    op.execute("ALTER TABLE broadcasts ALTER COLUMN notify_account TYPE text USING 'telegram:' || notify_account")
    op.execute("UPDATE audit_log SET actor_id = 'telegram:' || actor_id "
               "WHERE actor_kind IN ('account', 'staff') AND actor_id ~ '^[0-9]+$'")


def downgrade() -> None:
    # Only Telegram addresses have a place in the old schema: accounts of other messengers
    # (and what hangs on them) cannot be kept by a downgrade.
    op.execute("UPDATE audit_log SET actor_id = substr(actor_id, 10) "
               "WHERE actor_kind IN ('account', 'staff') AND actor_id LIKE 'telegram:%'")
    op.execute("DELETE FROM deliveries WHERE account_id NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM consents WHERE account_id NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM links WHERE account_id NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM staff WHERE account NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM deletion_requests WHERE requested_by NOT LIKE 'telegram:%'")
    op.execute("UPDATE broadcasts SET notify_account = NULL WHERE notify_account NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM declarations WHERE submitted_by NOT LIKE 'telegram:%'")
    op.execute("DELETE FROM accounts WHERE address NOT LIKE 'telegram:%'")
    for table, col in _FKS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{col}_fkey")
    op.execute("ALTER TABLE broadcasts ALTER COLUMN notify_account TYPE bigint USING substr(notify_account, 10)::bigint")
    op.execute("ALTER TABLE broadcasts RENAME COLUMN notify_account TO notify_chat_id")
    op.execute("ALTER TABLE deletion_requests ALTER COLUMN requested_by TYPE bigint USING substr(requested_by, 10)::bigint")
    op.execute("ALTER TABLE deletion_requests ADD COLUMN chat_id bigint")
    op.execute("UPDATE deletion_requests SET chat_id = requested_by")
    op.execute("ALTER TABLE deletion_requests ALTER COLUMN chat_id SET NOT NULL")
    op.execute("ALTER TABLE staff ALTER COLUMN account TYPE bigint USING substr(account, 10)::bigint")
    op.execute("ALTER TABLE staff RENAME COLUMN account TO telegram_id")
    op.execute("ALTER TABLE declarations ALTER COLUMN submitted_by TYPE bigint USING substr(submitted_by, 10)::bigint")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_broadcast_account")
    for table, col in _FKS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE bigint USING substr({col}, 10)::bigint")
    op.execute("ALTER TABLE deliveries ADD COLUMN chat_id bigint")
    op.execute("UPDATE deliveries SET chat_id = account_id")
    op.execute("ALTER TABLE deliveries ALTER COLUMN chat_id SET NOT NULL")
    op.execute("ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_broadcast_chat UNIQUE (broadcast_id, chat_id)")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT ck_accounts_address")
    op.execute("ALTER TABLE accounts DROP COLUMN channel")
    op.execute("ALTER TABLE accounts DROP COLUMN draft_since")
    op.execute("ALTER TABLE accounts ALTER COLUMN address TYPE bigint USING substr(address, 10)::bigint")
    op.execute("ALTER TABLE accounts RENAME COLUMN address TO telegram_id")
    op.execute("ALTER TABLE accounts ADD COLUMN chat_id bigint")
    op.execute("UPDATE accounts SET chat_id = telegram_id")
    op.execute("ALTER TABLE accounts ALTER COLUMN chat_id SET NOT NULL")
    op.execute("ALTER TABLE links ADD CONSTRAINT links_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(telegram_id)")
    op.execute("ALTER TABLE consents ADD CONSTRAINT consents_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(telegram_id)")
    op.execute("ALTER TABLE deliveries ADD CONSTRAINT deliveries_account_id_fkey FOREIGN KEY (account_id) "
               "REFERENCES accounts(telegram_id) ON DELETE CASCADE")
