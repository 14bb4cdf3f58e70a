"""One resident's registry row and declarations -> FHIR R4 resources, as plain dicts.

Built as dicts, not models, for speed (a ward of 100,000 residents is exported in well
under a minute); tests/fhir validates every resource with the fhir.resources R4B models.
Resource ids are stable: the resident's id, and for anything from a declaration its
version, so exporting or pushing again gives the same resources (idempotent). The codes
and their sources are in storage/fhir/codes.py, the question-by-question map in
storage/fhir/questionnaire.py.

Rows are anything with the attributes of storage.models.Resident / Declaration (ORM
objects or SQL rows); a declaration row may also carry `withdrawn` (consent withdrawn
since: the resources are tagged, as the CSV export marks them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from dialogs.questionnaire import VERSION
from locales import t
from storage.fhir import codes as c
from storage.fhir.questionnaire import response_items

TYPES = ("Organization", "Patient", "RelatedPerson", "Observation", "Condition",
         "AllergyIntolerance", "Immunization", "QuestionnaireResponse")


def _slug(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _ident(rid: str) -> list[dict]:
    return [{"system": c.SID_RESOURCE, "value": rid}]


@dataclass(frozen=True)
class Context:
    """What the resources of one export share: the language of their texts."""

    locale: str = "vi"


@cache
def _texts(locale: str) -> dict[str, str]:
    return {
        "cond.other": t(locale, "cond.other"),
        "occurrence": t(locale, "fhir.occurrence_unknown"),
        "flu_occurrence": t(locale, "fhir.occurrence_last_year"),
    }


@cache  # one per ward; shared, so never changed after it is made
def organization(ward: str, locale: str = "vi") -> dict:
    """The ward's health station: the managing organization of its residents."""
    rid = "hb-station-" + _slug(ward)
    return {"resourceType": "Organization", "id": rid,
            "identifier": [*_ident(rid), {"system": c.SID_STATION, "value": ward}],
            "active": True, "name": t(locale, "fhir.station_name", ward=ward)}


def _name(full: str) -> dict:
    # Vietnamese names are written family name first: "Nguyễn Thị Hoa".
    parts = full.split()
    out: dict[str, Any] = {"use": "official", "text": full}
    if parts:
        out["family"] = parts[0]
        if len(parts) > 1:
            out["given"] = parts[1:]
    return out


_GENDER = {"M": "male", "F": "female"}


def patient(r: Any, latest: dict[str, Any] | None, ward: str, org_ref: str) -> dict:
    """The registry row, with what the person corrected or added in their latest declaration."""
    a = latest or {}
    rid = f"hb-{r.id}"
    # Never the card's code: it is a bearer secret (whoever has it can link), kept sealed.
    ids = [*_ident(rid)]
    if r.citizen_id:
        ids.append({"system": c.SID_CCCD, "value": r.citizen_id})
    bhyt = r.insurance_code or (a.get("insurance") if a.get("insurance") not in (None, "none") else None)
    if bhyt:
        ids.append({"system": c.SID_BHYT, "value": bhyt})
    sex = a.get("sex") or r.sex
    born = a.get("birth_date") or (r.birth_date.isoformat() if r.birth_date else f"{r.birth_year:04d}")
    out: dict[str, Any] = {
        "resourceType": "Patient", "id": rid, "identifier": ids, "active": True,
        "name": [_name(a.get("full_name") or r.full_name)],
        "gender": _GENDER.get(sex or "", "unknown"), "birthDate": born,
    }
    phone = a.get("phone") or r.phone
    if phone:
        out["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    street = a.get("address")
    if not isinstance(street, str) or street == "=registry":
        street = r.address
    lines = [x for x in (street, r.group_name, r.quarter) if x]
    address: dict[str, Any] = {"use": "home", "type": "physical",
                               "text": ", ".join([*lines, ward]), "district": ward, "country": "VN"}
    if lines:
        address["line"] = lines
    out["address"] = [address]
    out["managingOrganization"] = {"reference": org_ref}
    return out


def _num(v: Any) -> float | int:
    """165.0 -> 165, 65.5 -> 65.5 (Decimal or float alike: the same bytes every export)."""
    f = float(v)
    return int(f) if f.is_integer() else f


def answers_of(d: Any) -> dict[str, Any]:
    """A declaration's answers, parsed if they came as JSON text (the ward export's rows)."""
    a = d.answers
    return orjson.loads(a) if isinstance(a, str) else a


class Builder:
    """Resources of one resident. References are relative ("Patient/hb-12"), as Bulk Data
    NDJSON has them; the transaction Bundle writer turns them into the entries' urn:uuid."""

    def __init__(self, ctx: Context = Context()):
        self.ctx = ctx
        self.texts = _texts(ctx.locale)
        self.questionnaire = f"{c.QUESTIONNAIRE_URL}|{VERSION}"
        self.earlier: dict[str, str] = {}  # canonical URLs of older questionnaire versions

    def resident(self, r: Any, declarations: Iterable[Any]) -> Iterable[dict]:
        """Organization first, then the Patient, then each declaration's resources."""
        decls = list(declarations)
        ward = r.ward
        org = organization(ward, self.ctx.locale)
        pid = f"hb-{r.id}"
        yield org
        answers = [answers_of(d) for d in decls]
        yield patient(r, answers[-1] if decls else None, ward, "Organization/" + org["id"])
        seen_declarers: set[str] = set()
        for d, a in zip(decls, answers, strict=True):
            yield from self.declaration(pid, r.id, d, a, seen_declarers)

    def declaration(self, pid: str, resident_id: int, d: Any, a: dict[str, Any], seen: set[str]) -> Iterable[dict]:
        base = f"hb-{resident_id}-{d.version}"
        when = d.submitted_at.isoformat() if isinstance(d.submitted_at, datetime) else str(d.submitted_at)
        subject = {"reference": "Patient/" + pid}
        if d.relation == "self":
            who = subject
        else:
            rp_id = f"hb-{resident_id}-rp-{_slug(str(d.submitted_by))[:10]}-{d.relation}"
            who = {"reference": "RelatedPerson/" + rp_id}
            if rp_id not in seen:
                seen.add(rp_id)
                yield {"resourceType": "RelatedPerson", "id": rp_id, "identifier": _ident(rp_id),
                       "active": True, "patient": subject,
                       "relationship": [c.DECLARER_ROLES.get(d.relation, c.DECLARER_ROLES["other"])]}
        out = list(self._clinical(base, a, d, when, subject, who))
        version = getattr(d, "questionnaire_version", None) or VERSION  # the one it answered
        canonical = self.questionnaire if version == VERSION else \
            self.earlier.setdefault(version, f"{c.QUESTIONNAIRE_URL}|{version}")
        rid = base + "-qr"
        out.append({"resourceType": "QuestionnaireResponse", "id": rid,
                    "identifier": {"system": c.SID_RESOURCE, "value": rid}, "questionnaire": canonical,
                    "status": "completed", "subject": subject, "authored": when, "author": who, "source": who,
                    "item": response_items(a, self.ctx.locale)})
        if getattr(d, "withdrawn", False):  # given under a consent withdrawn since: marked
            for r in out:
                r["meta"] = {"tag": [c.WITHDRAWN_TAG]}
        yield from out

    def _clinical(self, base: str, a: dict[str, Any], d: Any, when: str, subject: dict, who: dict) -> Iterable[dict]:
        """Observations, Conditions, the AllergyIntolerance and Immunizations of one declaration."""

        def obs(slot: str, cat: list, code: dict, key: str, value: Any) -> dict:
            rid = f"{base}-{slot}"
            return {"resourceType": "Observation", "id": rid, "identifier": _ident(rid), "status": "final",
                    "category": cat, "code": code, "subject": subject, "effectiveDateTime": when,
                    "performer": [who], key: value}

        height, weight = d.height_cm, d.weight_kg
        if height is not None:
            yield obs("height", c.VITAL_SIGNS, c.HEIGHT, "valueQuantity", c.quantity(_num(height), "cm"))
        if weight is not None:
            yield obs("weight", c.VITAL_SIGNS, c.WEIGHT, "valueQuantity", c.quantity(_num(weight), "kg"))
        if d.bmi is not None:
            bmi = obs("bmi", c.VITAL_SIGNS, c.BMI, "valueQuantity", c.quantity(_num(d.bmi), "kg/m2"))
            bmi["derivedFrom"] = [{"reference": f"Observation/{base}-{s}"}
                                  for s, v in (("height", height), ("weight", weight)) if v is not None]
            yield bmi
        if d.systolic is not None and d.diastolic is not None:
            yield obs("bp", c.VITAL_SIGNS, c.BP_PANEL, "component", [
                {"code": c.SYSTOLIC, "valueQuantity": c.quantity(d.systolic, "mm[Hg]")},
                {"code": c.DIASTOLIC, "valueQuantity": c.quantity(d.diastolic, "mm[Hg]")},
            ])
        smoking = c.SMOKING_VALUES.get(a.get("smoking"))
        if smoking is not None:
            yield obs("smoking", c.SOCIAL_HISTORY, c.SMOKING, "valueCodeableConcept", smoking)
        abo = c.ABO_VALUES.get(a.get("blood_group"))
        if abo is not None:
            yield obs("abo", c.LABORATORY, c.ABO, "valueCodeableConcept", abo)
        if d.pregnancies is not None:
            yield obs("pregnancies", c.SOCIAL_HISTORY, c.PREGNANCIES, "valueQuantity",
                      c.quantity(d.pregnancies, "{#}"))
        if d.children is not None:
            yield obs("children", c.SOCIAL_HISTORY, c.LIVING_CHILDREN, "valueQuantity", c.quantity(d.children, "{#}"))

        for value in a.get("conditions") or ():
            codings = c.CONDITIONS.get(value)
            if codings is None:
                continue
            rid = f"{base}-cond-{value}"
            yield {"resourceType": "Condition", "id": rid, "identifier": _ident(rid),
                   "clinicalStatus": c.CLINICAL_ACTIVE, "verificationStatus": c.UNCONFIRMED,
                   "category": c.PROBLEM_LIST,
                   "code": {"coding": codings} if codings else {"text": self.texts["cond.other"]},
                   "subject": subject, "recordedDate": when, "asserter": who}
        allergy = a.get("allergies")
        if allergy:
            rid = base + "-allergy"
            yield {"resourceType": "AllergyIntolerance", "id": rid, "identifier": _ident(rid),
                   "clinicalStatus": c.ALLERGY_ACTIVE, "verificationStatus": c.ALLERGY_UNCONFIRMED,
                   "code": c.NO_KNOWN_ALLERGY if allergy == "none" else {"text": str(allergy)},
                   "patient": subject, "recordedDate": when, "asserter": who}

        def shot(rid: str, status: str, vaccine: dict, disease: dict, occurred: str, dose: int | None) -> dict:
            out = {"resourceType": "Immunization", "id": rid, "identifier": _ident(rid), "status": status,
                   "vaccineCode": vaccine, "patient": subject, "occurrenceString": occurred, "recorded": when,
                   "primarySource": False, "reportOrigin": c.RECALL}
            if dose is not None:
                out["protocolApplied"] = [{"targetDisease": [disease], "doseNumberPositiveInt": dose}]
            return out

        occurred = self.texts["occurrence"]
        doses = d.covid_doses
        if doses is not None:
            if doses == 0:
                yield shot(f"{base}-covid-0", "not-done", c.COVID_VACCINE, c.COVID_DISEASE, occurred, None)
            for n in range(1, doses + 1):
                yield shot(f"{base}-covid-{n}", "completed", c.COVID_VACCINE, c.COVID_DISEASE, occurred, n)
        flu = a.get("flu_shot")
        if flu in ("yes", "no"):
            yield shot(f"{base}-flu", "completed" if flu == "yes" else "not-done", c.FLU_VACCINE, c.FLU_DISEASE,
                       self.texts["flu_occurrence"], None)


def references(resource: Any) -> Iterable[str]:
    """Every `reference` inside a resource (for checks and bundle rewriting)."""
    if isinstance(resource, dict):
        for k, v in resource.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from references(v)
    elif isinstance(resource, list):
        for v in resource:
            yield from references(v)
