"""Where a person rests between flows: the main menu, help, language, cancel.

Flows add their entries to the menu with `menu_item`; the menu shows those whose
`show` condition holds for this person, in `order`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dialogs.core import HOME, Ctx, cancel, command, node

LOCALES = ("vi", "en")


@dataclass(frozen=True)
class MenuItem:
    button: str  # message id of the button
    order: int
    run: Callable[[Ctx], Awaitable[None]]
    show: Callable[[Ctx], Awaitable[bool]]


MENU: list[MenuItem] = []
# Handlers that may claim free input typed at home (a photo, a code); True = handled.
HOME_INPUT: list[Callable[[Ctx], Awaitable[bool]]] = []


async def _always(ctx: Ctx) -> bool:
    return True


def menu_item(button: str, order: int, show: Callable[[Ctx], Awaitable[bool]] = _always):
    def deco(fn):
        MENU.append(MenuItem(button, order, fn, show))
        MENU.sort(key=lambda m: m.order)
        return fn

    return deco


async def visible_menu(ctx: Ctx) -> list[MenuItem]:
    return [m for m in MENU if await m.show(ctx)]


@node(HOME, back=False)
class Home:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        items = await visible_menu(ctx)
        ctx.say("home.menu", keyboard=[[m.button] for m in items] + [["btn.help"]])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        for m in await visible_menu(ctx):
            if ctx.pressed(m.button):
                await m.run(ctx)
                return
        if ctx.pressed("btn.help"):
            await show_help(ctx)
            return
        for claim in HOME_INPUT:
            if await claim(ctx):
                return
        ctx.say("common.not_understood")
        await Home.enter(ctx)


@command("trogiup", "help")
async def show_help(ctx: Ctx) -> None:
    ctx.say("common.help", station=ctx.env.station_name, phone=ctx.env.station_phone)
    if not ctx.node:
        ctx.state["node"] = HOME
    if ctx.node == HOME:
        await Home.enter(ctx)


@command("huy", "cancel")
async def cancel_command(ctx: Ctx) -> None:
    await cancel(ctx)


@command("ngonngu", "language")
async def switch_language(ctx: Ctx) -> None:
    """Toggle Vietnamese/English (or pick one: /ngonngu en), then repeat the current question."""
    wanted = ctx.inp.text.strip().lower()
    new = wanted if wanted in LOCALES else ("en" if ctx.locale == "vi" else "vi")
    ctx.state["locale"] = new
    await ctx.svc.accounts.set_locale(ctx.env.account, new)
    ctx.say("common.language_set")
    from dialogs.core import NODES  # noqa: PLC0415

    current = ctx.node if ctx.node in NODES else HOME
    ctx.state["node"] = current
    await NODES[current].enter(ctx)
