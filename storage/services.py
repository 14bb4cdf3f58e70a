"""Wires the storage implementations of the engine's ports (dialogs.ports.Services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.accounts import Accounts
from storage.audit import AuditLog
from storage.broadcasts import BroadcastService
from storage.console import ConsoleLinks
from storage.declarations import Declarations
from storage.people import People
from storage.privacy import PrivacyService
from storage.security import Drafts
from storage.staff import StaffService
from storage.state import StateStore


@dataclass
class StorageServices:
    sessions: async_sessionmaker[AsyncSession]
    store: StateStore
    limits: StateStore
    audit: AuditLog
    accounts: Accounts
    staff: StaffService
    broadcasts: BroadcastService
    people: People
    declarations: Declarations
    privacy: PrivacyService
    drafts: Drafts
    console: ConsoleLinks
    documents: Any = None  # dialogs.ports.Documents: PDF layout is the bot's (bot/runtime.py sets it)


def build_services(sessions: async_sessionmaker[AsyncSession], store: StateStore,
                   console_url: str = "http://127.0.0.1:8081") -> StorageServices:
    return StorageServices(
        sessions=sessions,
        store=store,
        limits=store,
        audit=AuditLog(sessions),
        accounts=Accounts(sessions),
        staff=StaffService(sessions),
        broadcasts=BroadcastService(sessions),
        people=People(sessions),
        declarations=Declarations(sessions),
        privacy=PrivacyService(sessions),
        drafts=Drafts(store),
        console=ConsoleLinks(store.redis, store.keys.prefix, console_url),
    )
