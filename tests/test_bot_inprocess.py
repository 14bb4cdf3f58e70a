"""The Application in process, through a recording request object (no network)."""


from tests.standin import message_update


async def test_start_is_answered_in_vietnamese(chat_factory):
    chat = chat_factory(2001)
    await chat.command("start")
    assert chat.last, "no reply"
    assert chat.last[0].method == "sendMessage"


async def test_same_update_twice_is_handled_once(chat_factory, app, api):
    chat = chat_factory(2002)
    await chat.send("xin chào")
    first = len(api.sent(2002))
    await chat.redeliver(chat.last_update)
    assert len(api.sent(2002)) == first


async def test_sticker_location_and_long_text_get_answers(chat_factory):
    chat = chat_factory(2003)
    for action in (chat.sticker, chat.location, lambda: chat.send("x" * 4000)):
        await action()
        assert chat.last, action


async def test_group_chats_are_ignored(app, api):
    upd = message_update(api, 2004, text="hello")
    upd["message"]["chat"] = {"id": -100, "type": "group", "title": "g"}
    assert await app.deliver(upd)
    assert api.sent(-100) == []
