"""Audit log codes as people read them: what was done (`privacy.action.*`), how it ended
(`privacy.outcome.*`), who did it (`privacy.kind.*` for staff, `privacy.actor.*` for a
resident reading their own data). tests/unit/test_audit_labels.py keeps every code the
code writes labelled; a row written by a newer version still reads as its code, marked."""

from __future__ import annotations

from locales import t


def label(locale: str, section: str, code: str) -> str:
    key = f"privacy.{section}.{code}"
    text = t(locale, key)
    return t(locale, "privacy.unlabelled", code=code) if text == key else text


def action(locale: str, code: str) -> str:
    return label(locale, "action", code)


def outcome(locale: str, code: str) -> str:
    return label(locale, "outcome", code)


def kind(locale: str, code: str) -> str:
    """Who acted, in staff's words (Người dân, Cán bộ, Dòng lệnh, Hệ thống)."""
    return label(locale, "kind", code)
