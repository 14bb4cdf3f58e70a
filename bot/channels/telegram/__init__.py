"""Telegram: decoding updates (decode.py), sending (channel.py), long polling (polling.py)
and the webhook route (webhook.py). python-telegram-bot does the Bot API calls; updates are
read as plain JSON, field by field, so one malformed update cannot stop the others."""
