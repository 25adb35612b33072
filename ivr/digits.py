"""Keypad digit collection for one turn: a count, a terminator key and an inter-digit timeout."""

from __future__ import annotations

from dataclasses import dataclass

from dialogue.payloads import ExpectDigits
from speech.digits import DigitExpectation

FREE_ENTRY = ExpectDigits(count=1, max=20, terminator="#", timeout_s=3.0, secure=False)
"""Keys pressed when the bot asked for none: gather them until '#' or a pause, then send."""


def spoken_digits(expect: ExpectDigits | None) -> DigitExpectation | None:
    """What the recogniser expects when the bot asked for keypad digits: a digit string when
    it asked for two or more (an account number, a PIN, a ZIP). A single key is a menu choice
    or a yes/no ("press 1 for yes"): the caller says a word, which the hints cover."""
    if expect is None or expect.count < 2:
        return None
    return DigitExpectation(count=expect.count, max=max(expect.count, expect.max))


@dataclass
class DigitCollector:
    """Accumulates key presses; says when an entry is complete."""

    spec: ExpectDigits = FREE_ENTRY
    digits: str = ""
    last_key_at: float | None = None

    def press(self, key: str, now: float) -> str | None:
        """Add a key; returns the completed entry when this key completes it."""
        self.last_key_at = now
        if key == self.spec.terminator:
            return self.take() if self.digits or self.spec.count == 0 else None
        if key.isdigit() or key in "*ABCD":
            self.digits += key
        if self.spec is not FREE_ENTRY and len(self.digits) >= self.spec.count:
            return self.take()
        if len(self.digits) >= self.spec.max:
            return self.take()
        return None

    def expired(self, now: float) -> str | None:
        """The entry so far, once no key has come for the inter-digit timeout."""
        idle = self.last_key_at is not None and now - self.last_key_at >= self.spec.timeout_s
        return self.take() if self.digits and idle else None

    def take(self) -> str:
        digits, self.digits, self.last_key_at = self.digits, "", None
        return digits

    @property
    def active(self) -> bool:
        return bool(self.digits)
