"""Sends the records to a FHIR R4 server: one transaction Bundle per resident, every entry a
conditional update on its identifier (storage/fhir/export.py `transaction`), so a second
push changes nothing on a conforming server (HAPI FHIR, for one).

429 and 5xx answers and lost connections are retried with exponential backoff (honouring
Retry-After); anything else stops the push with the server's own message. Once a resident
and everyone before them are confirmed, a checkpoint file records how far it got: a push
that was interrupted (Ctrl-C, a server down for longer than the retries) resumes there.
The checkpoint is removed when the push completes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import deque
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.fhir.export import residents, transaction
from storage.fhir.questionnaire import questionnaire
from storage.fhir.resources import Builder, Context, organization
from storage.models import Resident

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class PushError(Exception):
    """The server refused a bundle, or stayed unavailable through every retry."""

    def __init__(self, status: int | None, detail: str):
        super().__init__(f"{status or '-'} {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Retry:
    attempts: int = 8
    base: float = 0.5  # seconds before the first retry, doubling each time
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.cap)
        return min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)


class Checkpoint:
    """The id of the last resident the server confirmed, for one (server, ward)."""

    def __init__(self, folder: Path, url: str, ward: str | None):
        key = hashlib.sha256(f"{url}\n{ward or ''}".encode()).hexdigest()[:16]
        self.path = folder / f"fhir-push-{key}.json"
        self.url, self.ward = url, ward

    def load(self) -> int:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return 0
        ok = data.get("url") == self.url and data.get("ward") == self.ward
        return int(data.get("after", 0)) if ok else 0

    def save(self, after: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": self.url, "ward": self.ward, "after": after}), "utf-8")
        tmp.replace(self.path)  # atomic: a crash leaves the old or the new checkpoint

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Pushed:
    residents: int = 0
    created: int = 0
    resumed_after: int = 0
    resident_ids: list[int] = field(default_factory=list)


def _outcome(body: bytes) -> str:
    """The diagnostics of an OperationOutcome, or the start of whatever came back."""
    try:
        doc = json.loads(body)
        issues = doc.get("issue") or []
        text = "; ".join(i.get("diagnostics") or i.get("code", "") for i in issues)
        return text[:300] or body[:300].decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


class Client:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str | None, retry: Retry,
                 on_retry: Callable[[str, float], Any] | None = None):
        self.http, self.url, self.retry, self.on_retry = http, url.rstrip("/"), retry, on_retry
        self.headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def transaction(self, bundle: dict) -> dict:
        body = orjson.dumps(bundle)
        last = "unavailable"
        status = None
        for attempt in range(self.retry.attempts):
            retry_after = None
            try:
                async with self.http.post(self.url, data=body, headers=self.headers) as resp:
                    status, raw = resp.status, await resp.read()
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as e:
                status, raw, last = None, b"", type(e).__name__
            if status is not None and 200 <= status < 300:
                return _transaction_response(status, raw, len(bundle["entry"]))
            if status is not None:
                last = _outcome(raw)
                if status not in RETRY_STATUSES:
                    raise PushError(status, last)
            if attempt + 1 < self.retry.attempts:
                wait = self.retry.delay(attempt, retry_after)
                if self.on_retry is not None:  # said once per wait, not per Bundle in flight
                    self.on_retry(str(status) if status is not None else last, wait)
                await asyncio.sleep(wait)
        raise PushError(status, last)


def _transaction_response(status: int, raw: bytes, entries: int) -> dict:
    """The server's answer, if it is a transaction-response that applied every entry."""
    try:
        reply = json.loads(raw)
        statuses = [str(e["response"]["status"]) for e in reply.get("entry", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PushError(status, "the answer is not a FHIR transaction-response") from None
    if reply.get("type") != "transaction-response" or len(statuses) != entries:
        raise PushError(status, "the answer is not a FHIR transaction-response")
    refused = [x for x in statuses if not x.startswith("2")]
    if refused:
        raise PushError(status, "entries refused: " + ", ".join(sorted(set(refused))))
    return reply


def _server_ref(response: dict) -> str:
    """"Organization/17" from a location such as "Organization/17/_history/2" or the same
    as an absolute URL."""
    path = str(response.get("location") or "").split("/_history")[0].rstrip("/")
    parts = path.split("/")
    if len(parts) < 2 or not parts[-1]:
        raise PushError(None, "the server's answer gives no location for a created resource")
    return "/".join(parts[-2:])


def _created(reply: dict) -> int:
    return sum(1 for e in reply.get("entry", []) if str(e["response"]["status"]).startswith("201"))


async def remaining(sessions: async_sessionmaker[AsyncSession], ward: str | None, after: int) -> int:
    q = select(func.count()).select_from(Resident).where(Resident.id > after)
    if ward is not None:
        q = q.where(Resident.ward == ward)
    async with sessions() as s:
        return int(await s.scalar(q) or 0)


async def _stations(sessions, ward: str | None, locale: str) -> list[dict]:
    q = select(Resident.ward).distinct().order_by(Resident.ward)
    if ward is not None:
        q = q.where(Resident.ward == ward)
    async with sessions() as s:
        return [organization(w, locale) for w in (await s.execute(q)).scalars()]


async def push(sessions: async_sessionmaker[AsyncSession], url: str, token: str | None, ward: str | None,
               checkpoint: Checkpoint, *, locale: str = "vi", retry: Retry = Retry(), concurrency: int = 4,
               progress: Callable[[int], Any] | None = None, done: Pushed | None = None,
               on_retry: Callable[[str, float], Any] | None = None) -> Pushed:
    """Sends every resident after the checkpoint, `concurrency` Bundles in flight. `done`
    (the caller's, if given) counts what the server confirmed, also when the push then fails.

    The Questionnaire and the health stations go first, in one Bundle; residents' Bundles
    then refer to the stations by the ids the server gave them, so no two Bundles in flight
    write the same resource. The checkpoint only moves past a resident once every resident
    before it is confirmed too."""
    done = done if done is not None else Pushed()
    done.resumed_after = checkpoint.load()
    build = Builder(Context(locale))
    timeout = aiohttp.ClientTimeout(total=120)
    in_flight: deque[tuple[int, asyncio.Task]] = deque()

    async def oldest_confirmed() -> None:
        rid, task = in_flight.popleft()
        done.created += _created(await task)
        done.residents += 1
        done.resident_ids.append(rid)
        checkpoint.save(rid)
        if progress is not None:
            progress(1)

    async with aiohttp.ClientSession(timeout=timeout) as http:
        client = Client(http, url, token, retry, on_retry)
        shared = [questionnaire(locale), *await _stations(sessions, ward, locale)]
        reply = await client.transaction(transaction(shared))
        done.created += _created(reply)
        known = {f"{r['resourceType']}/{r['id']}": _server_ref(e["response"])
                 for r, e in zip(shared, reply["entry"], strict=True)}
        try:
            async with aclosing(residents(sessions, ward, done.resumed_after)) as rows:
                async for r, decls in rows:
                    bundle = transaction(build.resident(r, decls), known)
                    in_flight.append((r.id, asyncio.create_task(client.transaction(bundle))))
                    if len(in_flight) >= concurrency:
                        await oldest_confirmed()
            while in_flight:
                await oldest_confirmed()
        finally:
            for _, task in in_flight:  # a failure or Ctrl-C: the rest is resent on resume
                task.cancel()
            await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
    checkpoint.clear()
    return done
