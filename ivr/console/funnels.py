"""Task completion funnels: what each step of a flow means in the call records, in one table.

A turn record holds the caller's input as understood (``turns.intent``) and the bot's reply to
it (``turns.bot_text``, the domain response as spoken, masked). A step matches a turn when the
turn's intent is one of the step's ``intents`` or the reply holds one of its ``replies`` (words
of a response in ``dialogue/domain.yml``, named beside them; ``tests/console`` checks each
still occurs in that response). A call reaches a step when it reached the step before and any
of its turns matches this one: the order inside the call is not required, so a caller verified
for a transfer who then asks for a balance is counted as verified for the balance too.
"""

from __future__ import annotations

from dataclasses import dataclass

LIKE_SPECIAL = ("%", "_", "\\")
SURVEY_THANKS = "Thank you for your feedback"
"""Words of utter_survey_thanks: the turn holding them is the caller's survey answer."""


@dataclass(frozen=True)
class Step:
    """One step of a flow and how the records show it."""

    name: str
    meaning: str
    """What a designer reads: the step in words, and the responses it is recognised by."""
    intents: tuple[str, ...] = ()
    replies: tuple[str, ...] = ()
    """Words that occur in the bot's reply only when this step happened (literal text)."""

    def __post_init__(self) -> None:
        if not self.intents and not self.replies:
            raise ValueError(f"step {self.name!r} matches no turn")
        for words in self.replies:
            if any(special in words for special in LIKE_SPECIAL):
                raise ValueError(f"step {self.name!r}: {words!r} holds a LIKE wildcard")


@dataclass(frozen=True)
class Funnel:
    """A flow from the caller's request to the task done, step by step."""

    name: str
    steps: tuple[Step, ...]


VERIFIED = Step(
    "verified",
    "account number and PIN accepted (utter_auth_success)",
    replies=("You're verified.", "You're all set."),
)

FUNNELS = (
    Funnel(
        "Balance",
        (
            Step(
                "asked for balance",
                "understood as check_balance, or asked to confirm it (utter_confirm_check_balance)",
                intents=("check_balance",),
                replies=("You'd like your balance, is that right?",),
            ),
            VERIFIED,
            Step(
                "balance told",
                "a balance or a credit card's amount owed was read out (utter_balance, "
                "utter_balance_credit)",
                replies=("has a balance of", "you owe"),
            ),
        ),
    ),
    Funnel(
        "Recent transactions",
        (
            Step(
                "asked for transactions",
                "understood as recent_transactions, or asked to confirm it "
                "(utter_confirm_recent_transactions)",
                intents=("recent_transactions",),
                replies=("You'd like to hear your recent transactions",),
            ),
            VERIFIED,
            Step(
                "transactions told",
                "the transactions were read, or there were none (utter_transactions_intro, "
                "utter_no_transactions)",
                replies=("Here are the last ", "There are no recent transactions"),
            ),
        ),
    ),
    Funnel(
        "Transfer",
        (
            Step(
                "transfer asked",
                "understood as transfer_money, or asked to confirm it "
                "(utter_confirm_transfer_money)",
                intents=("transfer_money",),
                replies=("You'd like to move money between your accounts",),
            ),
            VERIFIED,
            Step(
                "read back",
                "amount and accounts read back for a yes (utter_ask_transfer_confirmed)",
                replies=("To confirm: move ",),
            ),
            Step(
                "confirmed",
                "the caller said yes, so the bank was asked to move the money "
                "(utter_transfer_done, utter_transfer_failed)",
                replies=("I've moved ", "I couldn't make that transfer"),
            ),
            Step("done", "the money moved (utter_transfer_done)", replies=("I've moved ",)),
        ),
    ),
    Funnel(
        "Lost card",
        (
            Step(
                "lost card reported",
                "understood as report_lost_card (utter_lost_card_start, "
                "utter_confirm_report_lost_card)",
                intents=("report_lost_card",),
                replies=("Let's block the card", "You'd like to report a lost or stolen card"),
            ),
            Step(
                "card found",
                "the card was identified and read back (utter_ask_block_confirmed)",
                replies=("That's the card ending ",),
            ),
            Step(
                "card blocked",
                "the card is blocked (utter_card_blocked)",
                replies=("is blocked, so no one can use it",),
            ),
        ),
    ),
    Funnel(
        "Survey",
        (
            Step(
                "survey asked",
                "the satisfaction question was asked (utter_ask_survey_score)",
                replies=("how satisfied were you with this call",),
            ),
            Step(
                "survey answered",
                "a score was given and thanked for (utter_survey_thanks)",
                replies=(SURVEY_THANKS,),
            ),
        ),
    ),
)
"""Every funnel the dashboard shows, in its order."""
