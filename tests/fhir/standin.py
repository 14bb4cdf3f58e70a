"""A small FHIR R4 server stand-in (aiohttp) that checks what a real one (HAPI FHIR) would:
`POST [base]` with a transaction Bundle, processed all-or-nothing; entries are updates,
`PUT Type?identifier=system|value` (conditional: no match creates, one match updates,
several fail with 412) or `PUT Type/id`; `urn:uuid:` references are resolved to the
assigned ids and every reference must resolve; an update that changes nothing keeps the
version. It can be told to answer some requests with 429/503 first, and records what it
received, so tests check idempotence, backoff and resumption on its state.
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def outcome(status: int, text: str) -> web.Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                           "diagnostics": text}]}
    return web.json_response(body, status=status, content_type="application/fhir+json")


class Refused(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status


@dataclass
class Stored:
    resource: dict
    version: int = 1


@dataclass
class FhirServer:
    token: str | None = None
    store: dict[str, dict[str, Stored]] = field(default_factory=dict)
    faults: list[tuple[int, dict]] = field(default_factory=list)  # (status, headers) answered first
    fail_after: int | None = None  # transactions accepted before answering fail_status to everything
    fail_status: int = 503
    transactions: int = 0  # accepted and applied
    requests: int = 0
    next_id: int = 1
    waiting: dict[int, asyncio.Event] = field(default_factory=dict)

    def reached(self, n: int) -> asyncio.Event:
        """Set once n transactions have been accepted (tests wait on it, not on the clock)."""
        event = self.waiting.setdefault(n, asyncio.Event())
        if self.transactions >= n:
            event.set()
        return event

    # ------------------------------------------------------------ what tests read

    def versions(self) -> dict[str, int]:
        return {f"{t}/{i}": s.version for t, by in self.store.items() for i, s in by.items()}

    def resources(self, kind: str) -> list[dict]:
        return [s.resource for s in self.store.get(kind, {}).values()]

    def count(self) -> int:
        return sum(len(by) for by in self.store.values())

    # ------------------------------------------------------------ the HTTP side

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/fhir", self.post)
        app.router.add_post("/fhir/", self.post)
        return app

    async def post(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return outcome(401, "missing or wrong bearer token")
        if self.faults:
            status, headers = self.faults.pop(0)
            return web.Response(status=status, headers=headers, text="busy")
        if self.fail_after is not None and self.transactions >= self.fail_after:
            return outcome(self.fail_status, "down for maintenance")
        if not request.content_type.startswith("application/fhir+json"):
            return outcome(415, "expected application/fhir+json")
        try:
            bundle = json.loads(await request.read())
            reply = self.transaction(bundle)
        except ValueError:
            return outcome(400, "not JSON")
        except Refused as e:
            return outcome(e.status, str(e))
        self.transactions += 1
        for n, event in self.waiting.items():
            if self.transactions >= n:
                event.set()
        return web.json_response(reply, content_type="application/fhir+json")

    # ------------------------------------------------------------ transaction semantics

    def _match(self, kind: str, query: str) -> list[str]:
        if not query.startswith("identifier="):
            raise Refused(400, f"unsupported search {query}")
        system, _, value = query[len("identifier="):].partition("|")
        return [rid for rid, s in self.store.get(kind, {}).items()
                if any(i.get("system") == system and i.get("value") == value for i in _identifiers(s.resource))]

    def transaction(self, bundle: dict) -> dict:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise Refused(400, "expected a transaction Bundle")
        entries = bundle.get("entry") or []
        targets: dict[str, str] = {}  # fullUrl -> Type/id
        plan = []
        for e in entries:
            req, res = e.get("request") or {}, e.get("resource") or {}
            if req.get("method") != "PUT":
                raise Refused(400, "only PUT entries are supported here")
            url = req.get("url", "")
            kind, sep, query = url.partition("?")
            if not sep:
                kind, _, rid = url.partition("/")
            else:
                found = self._match(kind, query)
                if len(found) > 1:
                    raise Refused(412, f"{url} matches {len(found)} resources")
                rid = found[0] if found else None
            if kind != res.get("resourceType"):
                raise Refused(400, f"{url} does not match a {res.get('resourceType')}")
            if rid is None:
                rid = f"s{self.next_id}"
                self.next_id += 1
            if "id" in res and res["id"] != rid:
                raise Refused(400, f"resource id {res['id']} does not match {kind}/{rid}")
            if e.get("fullUrl"):
                targets[e["fullUrl"]] = f"{kind}/{rid}"
            plan.append((kind, rid, res))
        written = {f"{k}/{i}" for k, i, _ in plan}
        out = []
        updates = []
        for kind, rid, res in plan:
            body = self._resolve(copy.deepcopy(res), targets, written)
            body["id"] = rid
            try:  # like a real server, refuse what is not valid FHIR
                get_fhir_model_class(kind).model_validate(body)
            except (ValidationError, KeyError, ValueError) as e:
                raise Refused(400, f"{kind} is not valid: {str(e)[:200]}") from None
            old = self.store.get(kind, {}).get(rid)
            if old is not None and _same(old.resource, body):
                status, version = "200 OK", old.version
            elif old is not None:
                status, version = "200 OK", old.version + 1
            else:
                status, version = "201 Created", 1
            updates.append((kind, rid, body, version))
            out.append({"response": {"status": status, "location": f"{kind}/{rid}/_history/{version}"}})
        for kind, rid, body, version in updates:  # all or nothing: applied only now
            self.store.setdefault(kind, {})[rid] = Stored(body, version)
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": out}

    def _resolve(self, node: Any, targets: dict[str, str], written: set[str]) -> Any:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "reference" and isinstance(v, str):
                    if v.startswith("urn:uuid:"):
                        if v not in targets:
                            raise Refused(400, f"reference {v} is not in the bundle")
                        node[k] = targets[v]
                    else:
                        kind, _, rid = v.partition("/")
                        if v not in written and rid not in self.store.get(kind, {}):
                            raise Refused(400, f"reference {v} does not resolve")
                else:
                    self._resolve(v, targets, written)
        elif isinstance(node, list):
            for v in node:
                self._resolve(v, targets, written)
        return node


def _identifiers(res: dict) -> list[dict]:
    ident = res.get("identifier") or []
    return [ident] if isinstance(ident, dict) else ident


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "id"} == {k: v for k, v in b.items() if k != "id"}
