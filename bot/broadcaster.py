"""The delivery engine: sends reminders from the PostgreSQL queue at each messenger's pace,
through the same channels as every reply (bot/channels): it never knows which messenger.

Any number of workers (one inside each `healthbot run`, one in `healthbot broadcast`)
share the queue and one rate:

- **Claim.** A worker takes pending deliveries with `FOR UPDATE SKIP LOCKED` and marks them
  `claimed` under a lease (its name and an expiry). Two workers never hold the same row.
- **Rate.** Before each send the worker reserves a slot on a timeline kept in Redis
  (storage/pacing.py), one timeline per messenger: slots are 1/rate apart whoever asks, so N
  workers together keep each messenger's rate (Telegram: settings.broadcast_rate, default
  25/s, under its ~30/s).
- **Send, exactly once at most.** Right before the HTTP call the row becomes `sending` in
  its own committed transaction, and only if it is still claimed by this worker with an
  unexpired lease *by the database's clock*. Then the outcome is written (`sent`,
  `blocked`, `failed`). Live workers renew their leases every few seconds.
- **Crash or restart.** A `claimed` row whose lease expired was never sent (the send only
  starts after `sending` is committed), so it goes back to `pending` and another worker
  sends it. A `sending` row whose lease expired *may* have reached the person: messengers
  have no idempotency key, so we cannot ask. We choose at-most-once: such a row is marked
  `failed` ('uncertain') and never resent. Nobody gets a second copy; the price is that a
  hard crash (kill -9, power loss) can lose the few messages that were in flight at that
  instant (at most the worker's concurrency), and the report counts them as failed.
  A worker that is stopped or cancelled lets its in-flight sends finish and records them,
  and hands its claimed rows back, so a restart loses nothing.
- **429.** The send was refused, so it is safe to repeat: the row goes back to `claimed`,
  the pause (exactly retry_after) is written to Redis so that every worker waits, and the
  same worker sends it again after the pause. Only broadcast traffic waits: replies to
  residents are sent by the turns, never through this timeline.
- **Not allowed now.** The messenger does not let us write to this person at the moment
  (Zalo outside its interaction window, with no approved template configured): the delivery
  is `unreachable`, counted apart in the report, and nothing is sent that would be refused.
- **403.** The person blocked the bot or deleted their account: the delivery is `blocked`,
  the account gets `blocked_at`, and later audiences leave it out until the account
  declares, links someone or turns reminders on again (it is talking to us).
- **At send time** the delivery is checked again: residents who declared since the
  broadcast started, unlinked residents, and accounts that turned reminders off are left
  out; a delivery with nobody left is `skipped`.
- **Progress.** The staff member who started it gets one message, edited in place with
  sent / blocked / failed counts (one worker edits at a time), and a final report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.channels.base import (
    Blocked,
    NotAllowedNow,
    Outgoing,
    Refused,
    RetryAfter,
    SendError,
    Uncertain,
    Unreachable,
    split,
)
from bot.config import TIME_ZONE
from bot.render import text_of
from dialogs.core import Reply
from dialogs.ports import Person
from dialogs.staff import names_of, reminder_reply
from locales import t
from storage.broadcasts import Claimed, Queue, Recipient, worker_name
from storage.pacing import SharedRate

log = logging.getLogger(__name__)


@dataclass
class Tuning:
    rate: float | None = None  # messages per second; None: settings.broadcast_rate
    lease: float = 30.0  # how long a dead worker's rows wait before recovery
    heartbeat: float = 5.0  # lease renewal interval (well under `lease`)
    poll: float = 1.0  # how often an idle worker looks for due broadcasts
    concurrency: int | None = None  # sends in flight; None: enough for ~0.4 s round trips
    progress_every: float = 3.0  # seconds between edits of a progress message
    flush_every: float = 0.1  # outcomes are written in batches this often
    max_refusals: int = 10  # 429s for one delivery before it counts as failed
    max_backoff: float = 30.0  # Telegram unreachable: retry, waiting at most this long

    def senders(self, rate: float) -> int:
        return self.concurrency or max(4, math.ceil(rate * 0.4) + 2)


async def worker_loop(rt, stop: asyncio.Event, *, tuning: Tuning | None = None) -> None:
    """Send broadcasts until `stop` is set, through the runtime's channels. Started beside
    the bot by `healthbot run`, and by `healthbot broadcast` until its broadcast is done."""
    tuning = tuning or Tuning()
    rate = tuning.rate or rt.settings.broadcast_rate
    await Worker(rt, rt.channels, tuning, rate).run(stop)


@dataclass
class Job:
    delivery: Claimed
    people: list[Recipient] = field(default_factory=list)


class Worker:
    def __init__(self, rt, channels: dict, tuning: Tuning, rate: float):
        self.rt = rt
        self.channels = channels
        self.tuning = tuning
        self.queue = Queue(rt.engine, worker_name(), tuning.lease)
        prefix = rt.settings.redis_prefix
        # One timeline per messenger; Telegram's keeps the keys it always had.
        self.rates = {name: SharedRate(rt.redis, prefix if name == "telegram" else f"{prefix}:{name}",
                                       rate if name == "telegram" else min(rate, getattr(ch, "rate", rate)))
                      for name, ch in channels.items()}
        self.n_senders = tuning.senders(rate)
        self.buffer = max(self.n_senders * 2, math.ceil(rate * 2))
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.outcomes: list[tuple[int, str, str | None]] = []
        self.blocked: list[str] = []
        self.station = rt.settings.health_station_name

    # ------------------------------------------------------------ the loops

    async def run(self, stop: asyncio.Event) -> None:
        await self.queue.open(self.rt.database_url, connections=4)
        try:
            await self._run(stop)
        finally:
            await self.queue.close()

    async def _run(self, stop: asyncio.Event) -> None:
        senders = [asyncio.create_task(self._sender()) for _ in range(self.n_senders)]
        helpers = [asyncio.create_task(fn(stop)) for fn in (self._feeder, self._heartbeat, self._housekeeping,
                                                            self._flusher)]
        try:
            await stop.wait()
        finally:
            # Stop taking work, let sends under way finish (they record their outcome),
            # then hand back what was claimed but not started.
            await _stop_all(helpers + senders)
            for last in (self._flush, self.queue.release):  # each on its own: one failing skips nothing
                with contextlib.suppress(Exception):
                    await last()

    async def _feeder(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            room = self.buffer - self.jobs.qsize()
            try:
                got = await self._fill(room) if room >= self.buffer // 2 else 0
            except Exception as e:  # the database is away: hand our rows back, try again
                _reraise_cancel(e)
                log.warning("broadcast worker: claiming failed: %s", type(e).__name__)
                await _logged(self.queue.release())
                got = 0
            if not got:
                await _sleep_or_stop(stop, self.tuning.poll if not self.jobs.qsize() else 0.05)

    async def _fill(self, room: int) -> int:
        got = await self.queue.claim(room)
        if got:
            jobs = {d.id: Job(d) for d in got}
            for p in await self.queue.recipients(list(jobs)):
                jobs[p.delivery_id].people.append(p)
            for job in jobs.values():
                if job.people:
                    self.jobs.put_nowait(job)
                else:  # nobody left to remind in this chat
                    self._record(job.delivery.id, "skipped", None)
        return len(got)

    async def _sender(self) -> None:
        while True:
            job = await self.jobs.get()
            try:
                await self._rate(job.delivery.account_id).acquire()
                # Once the send is under way it is finished and recorded even if we are being
                # cancelled: an abandoned request would leave its outcome unknown.
                await _completed(self._deliver(job))
            except Exception as e:  # Redis or the database away: this job again, a bit later
                _reraise_cancel(e)
                log.warning("broadcast worker: a send failed: %s", type(e).__name__)
                await asyncio.sleep(1)
                self.jobs.put_nowait(job)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _sleep_or_stop(stop, self.tuning.heartbeat)
            await _logged(self.queue.heartbeat())

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _sleep_or_stop(stop, self.tuning.flush_every)
            await _logged(self._flush())

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _completed(_logged(self._tend()))  # a closed broadcast always gets its report
            await _sleep_or_stop(stop, self.tuning.poll)

    async def _tend(self) -> None:
        for b in await self.queue.start_due():
            log.info("broadcast %s started: %s deliveries", b.id, b.total)
            if b.notify_account is not None:
                await self._first_progress(b)
        back, lost = await self.queue.recover()
        if back or lost:
            log.warning("recovered deliveries of a stopped worker: %s requeued, %s uncertain", back, lost)
        for b in await self.queue.progress_due(self.tuning.progress_every):
            if b.progress_message_id is not None:
                await self._edit_progress(b.id, b.notify_account, b.progress_message_id, b.notify_locale, b.total)
        for c in await self.queue.close_finished():
            log.info("broadcast %s %s", c.id, c.status)
            if c.notify_account is not None:
                await self._final_report(c)

    # ------------------------------------------------------------ one delivery

    def _rate(self, addr: str) -> SharedRate:
        return self.rates.get(split(addr)[0]) or next(iter(self.rates.values()))

    async def _deliver(self, job: Job) -> None:
        d = job.delivery
        name, user = split(d.account_id)
        channel = self.channels.get(name)
        if channel is None:  # that messenger is not configured in this process
            return self._record(d.id, "failed", "NoChannel")
        rate = self._rate(d.account_id)
        out = self._render(job)
        refusals = unreachable = 0
        while True:
            if not await self.queue.begin_send(d.id):
                return  # cancelled, or our lease ran out and the row is someone else's now
            try:
                await channel.send(user, out)
            except RetryAfter as e:
                refusals += 1
                wait = await rate.pause(e.seconds)  # first, so every worker stops at once
                await self.queue.unsend(d.id)
                log.warning("broadcast: rate limited, all workers pause %.1f s", wait)
                if refusals >= self.tuning.max_refusals:
                    return self._record(d.id, "failed", "RetryAfter")
                await rate.acquire()
                continue
            except Blocked:  # blocked the bot, unfollowed, deactivated, never started it
                self.blocked.append(d.account_id)
                return self._record(d.id, "blocked", None)
            except NotAllowedNow:  # the messenger would refuse it now: nothing was sent
                return self._record(d.id, await self._template(channel, job), None)
            except Refused as e:  # refused (chat not found, …): nothing went out
                return self._record(d.id, "failed", (str(e) or "Refused")[:40])
            except Uncertain:
                return self._record(d.id, "failed", "uncertain")  # a timeout may have gone out
            except Unreachable as e:
                # Never reached the messenger: keep the row (the heartbeat keeps it ours) and retry.
                await self.queue.unsend(d.id)
                log.warning("broadcast: cannot reach %s (%s), retrying", name, e)
                await asyncio.sleep(min(self.tuning.max_backoff, 0.5 * 2**unreachable))
                unreachable += 1
                await rate.acquire()
                continue
            except SendError as e:
                return self._record(d.id, "failed", type(e).__name__[:40])
            return self._record(d.id, "sent", None)

    async def _template(self, channel, job: Job) -> str:
        """Outside Zalo's window: an approved ZNS template to the registry's number, when one
        is configured; otherwise the family counts as not reachable on this messenger now."""
        template = self.rt.settings.zalo_zns_template_id
        phone = next((p.phone for p in job.people if p.phone), None)
        if not template or phone is None or not hasattr(channel, "send_zns"):
            return "unreachable"
        names = ", ".join(p.full_name for p in job.people)
        try:
            await channel.send_zns(phone.removeprefix("+"), template, {"name": names, "station": self.station},
                                   f"bcast-{job.delivery.id}")
        except SendError as e:
            log.info("template message not sent: %s", type(e).__name__)
            return "unreachable"
        return "sent"

    def _render(self, job: Job) -> Outgoing:
        d, people = job.delivery, job.people
        today = datetime.now(TIME_ZONE).date()
        persons = [Person(id=p.resident_id, code="", full_name=p.full_name, birth_year=p.birth_year,
                          birth_date=p.birth_date, sex=p.sex) for p in people]
        names = names_of(persons, today)
        text = text_of(reminder_reply(people[0].message, names, self.station), d.locale)
        if len(persons) == 1:
            labels = [t(d.locale, "staff.reminder.button_one")]
        else:
            labels = [t(d.locale, "staff.reminder.button", who=text_of(Reply(n.id, n.vars), d.locale)) for n in names]
        rows = tuple(((label, f"declare:{p.id}"),) for label, p in zip(labels, persons, strict=True))
        return Outgoing(text, inline=rows)

    def _record(self, delivery_id: int, status: str, error: str | None) -> None:
        self.outcomes.append((delivery_id, status, error))

    async def _flush(self) -> None:
        outcomes, blocked = self.outcomes, self.blocked
        if not outcomes and not blocked:
            return
        self.outcomes, self.blocked = [], []
        try:
            await self.queue.finish(outcomes, blocked)
        except BaseException:
            self.outcomes[:0], self.blocked[:0] = outcomes, blocked  # try again next time
            raise

    # ------------------------------------------------------------ progress for the staff member

    def _stop_button(self, bid: int, locale: str) -> tuple:
        return (((t(locale, "staff.progress.stop"), f"bcancel:{bid}"),),)

    async def _first_progress(self, b) -> None:
        text = self._progress_text(b.id, b.notify_locale, b.total or 0, {})
        ref = await self._staff_call(b.notify_account, "send",
                                     Outgoing(text, inline=self._stop_button(b.id, b.notify_locale)))
        if ref is not None:
            await self.queue.set_progress_message(b.id, int(ref))

    def _progress_text(self, bid: int, locale: str, total: int, counts: dict[str, int]) -> str:
        done = sum(counts.get(s, 0) for s in STATUSES)
        return t(locale, "staff.progress.running", id=bid, done=done, total=total, **tally(counts))

    async def _edit_progress(self, bid: int, addr: str, message_id: int, locale: str, total: int | None) -> None:
        counts = await self.queue.counts(bid)
        text = self._progress_text(bid, locale, total or 0, counts)
        await self._staff_call(addr, "edit", Outgoing(text, inline=self._stop_button(bid, locale)), message_id)

    async def _final_report(self, c) -> None:
        b = await self.queue.get(c.id)
        counts = await self.queue.counts(c.id)
        msg = "staff.progress.final_done" if c.status == "done" else "staff.progress.final_cancelled"
        text = t(c.notify_locale, msg, id=c.id, duration=duration(b.started_at, b.finished_at), **tally(counts))
        if c.progress_message_id is not None:
            await self._staff_call(c.notify_account, "edit", Outgoing(text), c.progress_message_id)
        await self._staff_call(c.notify_account, "send", Outgoing(text))

    async def _staff_call(self, addr: str, how: str, out: Outgoing, message_id: int | None = None):
        """A message to the staff member (edited in place where the messenger can): a rate
        limit pauses broadcasting like any other, and a lost progress update is not worth
        more than a line in the log."""
        name, user = split(addr)
        channel = self.channels.get(name)
        if channel is None or (how == "edit" and not hasattr(channel, "edit")):
            return None
        try:
            if how == "edit":
                return await channel.edit(user, str(message_id), out)
            return await channel.send(user, out)
        except RetryAfter as e:
            await self._rate(addr).pause(e.seconds)
        except SendError as e:
            log.info("progress message not updated: %s", type(e).__name__)
        return None


# ---------------------------------------------------------------- helpers


STATUSES = ("sent", "blocked", "unreachable", "failed", "skipped", "cancelled")  # final ones


def tally(counts: dict[str, int]) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in STATUSES}


def duration(start: datetime | None, end: datetime | None) -> str:
    seconds = int(((end or start) - start).total_seconds()) if start else 0
    return str(timedelta(seconds=max(0, seconds)))


async def _completed(coro) -> None:
    """Run `coro` to its end even if the caller is cancelled meanwhile; then let the
    cancellation through."""
    task = asyncio.ensure_future(coro)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # The cancellation must go through even if the work itself then fails: letting its
        # exception replace the CancelledError would leave the caller looping, never stopping.
        try:
            await task
        except Exception as e:
            log.warning("broadcast worker: a step failed while stopping: %s", type(e).__name__)
        raise


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _logged(aw) -> None:
    """A step that failed (database restarting, …) is tried again next round."""
    try:
        await aw
    except Exception as e:
        _reraise_cancel(e)
        log.warning("broadcast worker: %s failed: %s", getattr(aw, "__qualname__", "step"), type(e).__name__)


async def _stop_all(tasks: list[asyncio.Task], patience: float = 2.0) -> None:
    """Cancel and wait; ask again whoever is still running after `patience` seconds. Some
    client libraries swallow a cancellation that lands at the wrong moment (Python 3.11's
    wait_for, a connection being returned to its pool), and one lost cancellation must not
    hang the shutdown. A send under way is shielded (`_completed`) and finishes first."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=patience)


def _reraise_cancel(e: Exception) -> None:
    """A client may turn our cancellation into an error of its own (a connection pool's
    timeout, a closed connection): a loop that retries on errors must still stop. Seen as a
    hang at shutdown: a cancelled sender back at `jobs.get()`."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from e
