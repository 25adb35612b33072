"""A small Rasa-format bank assistant project written by the tests (the real one may be in flux)."""

from __future__ import annotations

from pathlib import Path

NLU = """\
version: "3.1"
nlu:
- intent: check_balance
  examples: |
    - what is my balance
    - how much is in my [checking](account_type) account
    - show me the balance of my [savings](account_type)
    - balance on [current account](account_type:checking) please
    - what's left in my [savings]{"entity": "account_type", "value": "savings"} account
    - account balance
- intent: transfer_money
  examples: |
    - i want to make a transfer
    - transfer [100](amount) dollars to [savings](account_type)
    - move money between my accounts
    - send money to [checking](account_type)
    - make a transfer from [savings](account_type) to [checking](account_type)
- intent: report_lost_card
  examples: |
    - i lost my [debit card](card_type)
    - my [credit card](card_type) has been stolen
    - someone stole my card
    - i can't find my [debit card](card_type)
    - block my card
- intent: change_pin
  examples: |
    - i want to change my PIN
    - reset my PIN
    - i forgot my PIN
- intent: recent_transactions
  examples: |
    - show my recent transactions
    - what were my last payments
    - list transactions on my [credit card](card_type)
- intent: dispute_charge
  examples: |
    - there is a charge i don't recognise
    - i want to dispute a payment
    - report fraud on my card
- intent: human_agent
  examples: |
    - agent
    - let me talk to a person
    - connect me to an agent please
- intent: affirm
  examples: |
    - yes
    - yes please
    - that's right
    - correct
- intent: deny
  examples: |
    - no
    - no thanks
    - that's wrong
- intent: inform
  examples: |
    - my pin is [secret:3f1a9c0b7d2e4f6a](pin)
    - the pin is [secret:0a1b2c3d4e5f6071](pin)
    - my account number is [40417755](account_number)
- synonym: checking
  examples: |
    - current account
    - checking account
- lookup: card_type
  examples: |
    - debit card
    - credit card
    - prepaid card
- regex: account_number
  examples: |
    - \\d{10}
"""

DOMAIN = """\
version: "3.1"
intents:
  - check_balance
  - transfer_money
entities:
  - account_type
  - card_type
slots:
  account_type:
    type: categorical
    values:
      - checking
      - savings
      - money_market
    mappings:
      - type: from_entity
        entity: account_type
  amount:
    type: float
    mappings:
      - type: from_entity
        entity: amount
responses:
  utter_greet:
    - text: "Welcome to the bank. How can I help?"
"""

STORIES = """\
version: "3.1"
stories:
- story: balance
  steps:
  - intent: check_balance
  - action: action_check_balance
"""

SEED = """\
customers:
  - name: Ada Lovelace
    accounts: [checking, savings]
"""


def write_rasa_project(root: Path) -> Path:
    """A Rasa project at ``root``: data/nlu/*.yml, a stories file and non-Rasa data, and
    dialogue/domain.yml."""
    (root / "data" / "nlu").mkdir(parents=True, exist_ok=True)
    (root / "data" / "stories").mkdir(parents=True, exist_ok=True)
    (root / "data" / "bank").mkdir(parents=True, exist_ok=True)
    (root / "dialogue").mkdir(parents=True, exist_ok=True)
    (root / "data" / "nlu" / "banking.yml").write_text(NLU, encoding="utf-8")
    (root / "data" / "stories" / "stories.yml").write_text(STORIES, encoding="utf-8")
    (root / "data" / "bank" / "seed.yml").write_text(SEED, encoding="utf-8")
    (root / "dialogue" / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    return root
