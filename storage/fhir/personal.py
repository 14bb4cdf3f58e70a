"""A resident's own copy of their record as FHIR (sent with /dulieucuatoi): a collection
Bundle of the same resources the ward export holds, plus the Questionnaire its responses
answer. Relative references resolve against the entries' fullUrls (one base, NS)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storage.fhir.codes import NS
from storage.fhir.questionnaire import questionnaire
from storage.fhir.resources import Builder, Context


def personal_bundle(resident: Any, declarations: Iterable[Any], at: datetime, locale: str = "vi") -> dict:
    resources = [questionnaire(locale), *Builder(Context(locale)).resident(resident, declarations)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": at.isoformat(),
        "entry": [{"fullUrl": f"{NS}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
