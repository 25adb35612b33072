"""Editing one response variation's text in the domain, as a designer does on the Prompts page.

The new text is checked first (``check_prompt``): not empty, not longer than a caller can
follow, no control characters, and every ``{placeholder}`` one that a slot or an action saying
the response fills (an unknown one would be read out as braces); the ear check's other warnings
are shown, never refused. Then ``edit_variation`` changes the domain's text surgically: only the
characters of that one ``text:`` value are replaced, so comments, order, quoting and every other
response stay exactly as written. It refuses with :class:`PromptConflict` when the variation no
longer says what the designer saw, which lets two designers edit different prompts of the one
file at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from typing import Any

import yaml

from dialogue.training import DOMAIN
from ivr.console.action_fills import filled
from ivr.console.ear_check import PLACEHOLDER, EarWarning, ear_check
from ivr.versions.draft import DraftConflict, DraftError

MAX_PROMPT_CHARS = 600
"""The longest prompt text taken: the shipped domain's longest is about 250 characters."""


class PromptRefused(ValueError):
    """A text that cannot be saved; the message says why, for the page."""


class PromptConflict(DraftConflict):
    """The variation changed since the designer opened it: ``current`` is what it says now
    (None: it is gone)."""

    def __init__(self, response: str, index: int, current: str | None) -> None:
        said = "no longer exists" if current is None else "was changed"
        super().__init__(DOMAIN, f"{response} variation {index + 1} {said}")
        self.current = current


def text_digest(text: str) -> str:
    """What an edit form carries of the text the designer saw (a browser may change the line
    breaks of a text it sends back, never a digest)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def tidy(text: str) -> str:
    """A typed text as it is saved: line breaks and runs of spaces made one space (the voice
    reads them alike, and a line break in a textarea is only where the designer wrapped)."""
    return " ".join(text.split())


def check_prompt(text: str, known: Collection[str]) -> list[EarWarning]:
    """The ear check's warnings for ``text`` (tidied), or :class:`PromptRefused` when it
    cannot be said; ``known``: the placeholders a slot or an action fills."""
    if not text.strip():
        raise PromptRefused("A prompt needs some words: the text is empty.")
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptRefused(
            f"The text is {len(text)} characters long; a prompt may have at most"
            f" {MAX_PROMPT_CHARS} (split it into two responses)."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise PromptRefused("The text holds control characters (a line break or a tab).")
    unknown = [name for name in PLACEHOLDER.findall(text) if not filled(name, known)]
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in dict.fromkeys(unknown))
        raise PromptRefused(
            f"{names}: no slot has this name and no action fills it for this response,"
            " so the caller would hear it as written."
        )
    if PLACEHOLDER.sub("", text).count("{") or PLACEHOLDER.sub("", text).count("}"):
        raise PromptRefused("A brace that is not part of a {placeholder} would be read out.")
    return [warning for warning in ear_check(text, known) if warning.kind != "placeholder"]


def variation_text(domain: str, response: str, index: int) -> str | None:
    """What ``response``'s variation ``index`` says in ``domain`` (None: no such text)."""
    node = _text_node(yaml.compose(domain, Loader=yaml.CSafeLoader), response, index)
    return None if node is None else str(node.value)


def edit_variation(domain: str, response: str, index: int, seen: str, new: str) -> str:
    """``domain`` (the file's text) with ``response``'s variation ``index`` saying ``new``.

    :class:`PromptConflict` when that variation's text no longer has the digest ``seen``
    (``text_digest`` of what the designer saw); :class:`DraftError`
    if the surgical edit would change anything else (it cannot, short of a YAML quirk).
    """
    node = _text_node(yaml.compose(domain, Loader=yaml.SafeLoader), response, index)
    if node is None or text_digest(node.value) != seen:
        raise PromptConflict(response, index, None if node is None else node.value)
    start, end = node.start_mark.index, node.end_mark.index
    written = domain[start:end]
    trailing = written[len(written.rstrip()) :]  # a block scalar's end takes its line break
    edited = domain[:start] + json.dumps(new, ensure_ascii=False) + trailing + domain[end:]
    _check_only_that_changed(domain, edited, response, index, new)
    return edited


def _text_node(root: yaml.Node | None, response: str, index: int) -> yaml.ScalarNode | None:
    variations = _child(_child(root, "responses"), response)
    if not isinstance(variations, yaml.SequenceNode) or not 0 <= index < len(variations.value):
        return None
    text = _child(variations.value[index], "text")
    return text if isinstance(text, yaml.ScalarNode) else None


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for name, value in node.value if name.value == key), None)


def _check_only_that_changed(before: str, after: str, response: str, index: int, new: str) -> None:
    old: dict[str, Any] = yaml.load(before, Loader=yaml.CSafeLoader)
    changed: dict[str, Any] = yaml.load(after, Loader=yaml.CSafeLoader)
    variation = changed["responses"][response][index]
    if variation.get("text") != new:
        raise DraftError(f"{response} variation {index + 1} could not be written as typed")
    variation["text"] = old["responses"][response][index]["text"]
    if changed != old:
        raise DraftError(f"editing {response} would have changed more of {DOMAIN}")
