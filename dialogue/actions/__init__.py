"""Custom actions of the hotline assistant (rasa-sdk): forms' validation and ``action_*``.

Responses live in the domain; actions compute, call the bank backend and choose which
response to send. Run them with ``ivr actions`` or let the application start the server in
its own process (needed for the PIN vault).
"""

from dialogue.actions import (
    accounts,
    auth,
    cards,
    complaints,
    confirmation,
    conversation,
    faq,
    survey,
    transfer,
)

__all__ = [
    "accounts",
    "auth",
    "cards",
    "complaints",
    "confirmation",
    "conversation",
    "faq",
    "survey",
    "transfer",
]
