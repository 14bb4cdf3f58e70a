"""A worker being stopped finishes a send under way, then really stops."""

import asyncio

import pytest

from bot.broadcaster import _completed


async def test_cancellation_goes_through_even_when_the_shielded_work_fails():
    started = asyncio.Event()

    async def send_that_fails():
        started.set()
        await asyncio.sleep(0.05)
        raise ConnectionError("the database went away mid-send")

    async def sender():
        while True:  # like Worker._sender: failures are retried, cancellation must not be
            try:
                await _completed(send_that_fails())
            except Exception:
                await asyncio.sleep(0)

    task = asyncio.create_task(sender())
    await started.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.done(), "the sender swallowed its cancellation and kept waiting for work"
    assert task.cancelled()


async def test_the_work_under_way_is_finished_before_stopping():
    done = []

    async def send():
        await asyncio.sleep(0.05)
        done.append(True)

    task = asyncio.create_task(_completed(send()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == [True]


async def test_a_swallowed_cancellation_is_asked_again():
    from bot.broadcaster import _stop_all  # noqa: PLC0415

    async def swallows_once():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # what a library did to us at the wrong moment
        await asyncio.Event().wait()  # back to waiting for work, forever

    task = asyncio.create_task(swallows_once())
    await asyncio.sleep(0)
    await asyncio.wait_for(_stop_all([task], patience=0.1), 3)
    assert task.cancelled()
