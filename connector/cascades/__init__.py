"""Trigger cascades (issue 16): scenarios in `mappings/cascades.yaml` that message a customer
step by step over email, SMS and messengers, and stop the moment she buys.

The channel contract is `channels.py`; what comes back from a provider (delivery statuses,
STOP replies, blocked bots) is recorded through `outcomes.py`.
"""
