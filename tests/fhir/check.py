"""Checks shared by the FHIR tests: validation with the fhir.resources R4B models, and
references that resolve inside an export."""

from __future__ import annotations

import json
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class

from storage.fhir.codes import LOINC, UCUM
from storage.fhir.resources import references


def validate(resource: dict) -> None:
    """Raises (pydantic ValidationError) when the resource is not valid R4(B)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def read_ndjson(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for f in sorted(folder.glob("*.ndjson")):
        out[f.stem] = [json.loads(line) for line in f.read_text("utf-8").splitlines()]
    return out


def unresolved(resources: list[dict]) -> list[str]:
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    return sorted({ref for r in resources for ref in references(r) if ref not in known})


def quantities(obs: dict) -> list[dict]:
    found = [obs["valueQuantity"]] if "valueQuantity" in obs else []
    return found + [c["valueQuantity"] for c in obs.get("component", []) if "valueQuantity" in c]


def observation_problems(obs: dict) -> list[str]:
    """An Observation needs a LOINC code, and any quantity a UCUM unit and code."""
    problems = []
    if not any(c["system"] == LOINC for c in obs["code"]["coding"]):
        problems.append(f"{obs['id']}: no LOINC code")
    for q in quantities(obs):
        if q.get("system") != UCUM or not q.get("code"):
            problems.append(f"{obs['id']}: quantity without UCUM unit")
    if not quantities(obs) and "valueCodeableConcept" not in obs:
        problems.append(f"{obs['id']}: no value")
    return problems
