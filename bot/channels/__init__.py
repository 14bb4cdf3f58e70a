"""Messengers as channels: one adapter per messenger over one common shape (bot/channels/base.py).

Modelled on Rasa's channel connectors (an input and an output side per messenger over a
common message type). Nothing below this package knows which messenger a person uses: a
person is an address "channel:id" (see `address`), and replies are rendered once, in the
person's language, into `Outgoing` before a channel turns them into its own API calls.
"""
