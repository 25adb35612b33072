"""Keypad digit collection for one turn: a count, a terminator key and an inter-digit timeout."""

from __future__ import annotations

from dataclasses import dataclass

from dialogue.payloads import ExpectDigits

FREE_ENTRY = ExpectDigits(count=1, max=20, terminator="#", timeout_s=3.0, secure=False)
"""Keys pressed when the bot asked for none: gather them until '#' or a pause, then send."""


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
