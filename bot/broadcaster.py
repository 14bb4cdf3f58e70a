"""The delivery engine: sends reminders from the PostgreSQL queue at Telegram's pace.

Any number of workers (one inside each `healthbot run`, one in `healthbot broadcast`)
share the queue and one rate:

- **Claim.** A worker takes pending deliveries with `FOR UPDATE SKIP LOCKED` and marks them
  `claimed` under a lease (its name and an expiry). Two workers never hold the same row.
- **Rate.** Before each send the worker reserves a slot on a timeline kept in Redis
  (storage/pacing.py): slots are 1/rate apart whoever asks, so N workers together keep the
  configured rate (settings.broadcast_rate, default 25/s, under Telegram's ~30/s).
- **Send, exactly once at most.** Right before the HTTP call the row becomes `sending` in
  its own committed transaction, and only if it is still claimed by this worker with an
  unexpired lease *by the database's clock*. Then the outcome is written (`sent`,
  `blocked`, `failed`). Live workers renew their leases every few seconds.
- **Crash or restart.** A `claimed` row whose lease expired was never sent (the send only
  starts after `sending` is committed), so it goes back to `pending` and another worker
  sends it. A `sending` row whose lease expired *may* have reached the person: Telegram has
  no idempotency key, so we cannot ask. We choose at-most-once: such a row is marked
  `failed` ('uncertain') and never resent. Nobody gets a second copy; the price is that a
  hard crash (kill -9, power loss) can lose the few messages that were in flight at that
  instant (at most the worker's concurrency), and the report counts them as failed.
  A worker that is stopped or cancelled lets its in-flight sends finish and records them,
  and hands its claimed rows back, so a restart loses nothing.
- **429.** The send was refused, so it is safe to repeat: the row goes back to `claimed`,
  the pause (exactly retry_after) is written to Redis so that every worker waits, and the
  same worker sends it again after the pause. The pause is on a separate `telegram.Bot`
  with its own connection pool: replies to residents (the Application's Bot) never wait.
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
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.aiohttp_request import AiohttpRequest
from bot.config import TIME_ZONE, Settings
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


def make_bot(settings: Settings, connections: int) -> Bot:
    """The broadcast Bot: its own connection pool, so a 429 pause never touches replies."""
    return Bot(
        settings.bot_token,
        base_url=settings.bot_api_base,
        base_file_url=settings.bot_file_base,
        request=AiohttpRequest(connections=connections),
        get_updates_request=AiohttpRequest(connections=1),
    )


async def worker_loop(rt, stop: asyncio.Event, *, bot: Bot | None = None, tuning: Tuning | None = None) -> None:
    """Send broadcasts until `stop` is set. Started beside the bot by `healthbot run`, and by
    `healthbot broadcast` until its broadcast is done."""
    tuning = tuning or Tuning()
    rate = tuning.rate or rt.settings.broadcast_rate
    own = bot is None
    # No getMe at start: sending needs none, and a Telegram outage must not stop the worker.
    bot = bot or make_bot(rt.settings, tuning.senders(rate) + 4)
    try:
        await Worker(rt, bot, tuning, rate).run(stop)
    finally:
        if own:
            with contextlib.suppress(Exception):
                await bot.request.shutdown()


@dataclass
class Job:
    delivery: Claimed
    people: list[Recipient] = field(default_factory=list)


class Worker:
    def __init__(self, rt, bot: Bot, tuning: Tuning, rate: float):
        self.rt = rt
        self.bot = bot
        self.tuning = tuning
        self.queue = Queue(rt.engine, worker_name(), tuning.lease)
        self.rate = SharedRate(rt.redis, rt.settings.redis_prefix, rate)
        self.n_senders = tuning.senders(rate)
        self.buffer = max(self.n_senders * 2, math.ceil(rate * 2))
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.outcomes: list[tuple[int, str, str | None]] = []
        self.blocked: list[int] = []
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
                await self.rate.acquire()
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
            if b.notify_chat_id is not None:
                await self._first_progress(b)
        back, lost = await self.queue.recover()
        if back or lost:
            log.warning("recovered deliveries of a stopped worker: %s requeued, %s uncertain", back, lost)
        for b in await self.queue.progress_due(self.tuning.progress_every):
            if b.progress_message_id is not None:
                await self._edit_progress(b.id, b.notify_chat_id, b.progress_message_id, b.notify_locale, b.total)
        for c in await self.queue.close_finished():
            log.info("broadcast %s %s", c.id, c.status)
            if c.notify_chat_id is not None:
                await self._final_report(c)

    # ------------------------------------------------------------ one delivery

    async def _deliver(self, job: Job) -> None:
        d = job.delivery
        text, markup = self._render(job)
        refusals = unreachable = 0
        while True:
            if not await self.queue.begin_send(d.id):
                return  # cancelled, or our lease ran out and the row is someone else's now
            try:
                await self.bot.send_message(d.chat_id, text, reply_markup=markup)
            except RetryAfter as e:
                refusals += 1
                wait = await self.rate.pause(_seconds(e))  # first, so every worker stops at once
                await self.queue.unsend(d.id)
                log.warning("broadcast: 429, all workers pause %.1f s", wait)
                if refusals >= self.tuning.max_refusals:
                    return self._record(d.id, "failed", "RetryAfter")
                await self.rate.acquire()
                continue
            except Forbidden:  # blocked the bot, deactivated, never started it
                self.blocked.append(d.account_id)
                return self._record(d.id, "blocked", None)
            except BadRequest:  # refused (chat not found, …): nothing went out
                return self._record(d.id, "failed", "BadRequest")
            except NetworkError as e:
                if not _not_connected(e):
                    return self._record(d.id, "failed", "uncertain")  # a timeout may have gone out
                # Never reached Telegram: keep the row (the heartbeat keeps it ours) and retry.
                await self.queue.unsend(d.id)
                log.warning("broadcast: cannot reach Telegram (%s), retrying", type(e.__cause__).__name__)
                await asyncio.sleep(min(self.tuning.max_backoff, 0.5 * 2**unreachable))
                unreachable += 1
                await self.rate.acquire()
                continue
            except TelegramError as e:
                return self._record(d.id, "failed", type(e).__name__[:40])
            return self._record(d.id, "sent", None)

    def _render(self, job: Job) -> tuple[str, InlineKeyboardMarkup]:
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
        rows = [[InlineKeyboardButton(label, callback_data=f"declare:{p.id}")]
                for label, p in zip(labels, persons, strict=True)]
        return text, InlineKeyboardMarkup(rows)

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

    async def _first_progress(self, b) -> None:
        text = self._progress_text(b.id, b.notify_locale, b.total or 0, {})
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t(b.notify_locale, "staff.progress.stop"),
                                                             callback_data=f"bcancel:{b.id}")]])
        msg = await self._staff_call(self.bot.send_message(b.notify_chat_id, text, reply_markup=markup))
        if msg is not None:
            await self.queue.set_progress_message(b.id, msg.message_id)

    def _progress_text(self, bid: int, locale: str, total: int, counts: dict[str, int]) -> str:
        done = sum(counts.get(s, 0) for s in ("sent", "blocked", "failed", "skipped", "cancelled"))
        return t(locale, "staff.progress.running", id=bid, done=done, total=total, **tally(counts))

    async def _edit_progress(self, bid: int, chat_id: int, message_id: int, locale: str, total: int | None) -> None:
        counts = await self.queue.counts(bid)
        text = self._progress_text(bid, locale, total or 0, counts)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t(locale, "staff.progress.stop"),
                                                             callback_data=f"bcancel:{bid}")]])
        await self._staff_call(self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                                          reply_markup=markup))

    async def _final_report(self, c) -> None:
        b = await self.queue.get(c.id)
        counts = await self.queue.counts(c.id)
        msg = "staff.progress.final_done" if c.status == "done" else "staff.progress.final_cancelled"
        text = t(c.notify_locale, msg, id=c.id, duration=duration(b.started_at, b.finished_at), **tally(counts))
        if c.progress_message_id is not None:
            await self._staff_call(self.bot.edit_message_text(text, chat_id=c.notify_chat_id,
                                                              message_id=c.progress_message_id))
        await self._staff_call(self.bot.send_message(c.notify_chat_id, text))

    async def _staff_call(self, call):
        """A message to the staff member: a 429 pauses broadcasting like any other, and a
        lost progress update is not worth more than a line in the log."""
        try:
            return await call
        except RetryAfter as e:
            await self.rate.pause(_seconds(e))
        except TelegramError as e:
            log.info("progress message not updated: %s", type(e).__name__)
        return None


# ---------------------------------------------------------------- helpers


def tally(counts: dict[str, int]) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in ("sent", "blocked", "failed", "skipped", "cancelled")}


def duration(start: datetime | None, end: datetime | None) -> str:
    seconds = int(((end or start) - start).total_seconds()) if start else 0
    return str(timedelta(seconds=max(0, seconds)))


def _seconds(e: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int form; we accept either
        warnings.simplefilter("ignore")
        ra = e.retry_after
    return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)


def _not_connected(e: NetworkError) -> bool:
    """The request never reached Telegram, so repeating it cannot make a second copy."""
    return isinstance(e.__cause__, aiohttp.ClientConnectorError)


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
