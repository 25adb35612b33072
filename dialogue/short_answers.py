"""Short answers to the question just asked, recognised by how they sound.

On a phone line the recogniser mangles short answers into other words: "nah" becomes "Now.",
"pardon" "Power done.", "no that's wrong" "Know that drum.". Out of context those transcripts
mean nothing (or the wrong thing: "now" reads as affirm), but after a yes/no question the caller
almost certainly said one of a few answers. When the bot's last message expected yes or no (its
``hints``), a short transcript is compared by sound (espeak-ng's phonemes, vowels merged into
one class, as vowels are what telephone audio and the recogniser blur most) with the usual
forms of yes, no and "say that again", and the closest one wins if it is close enough and
begins with the same sound. After the survey question ("from 1 to 5?") a short answer that
names a score, or begins with a word that sounds like one ("Free, it was okay."), is that
score. Without such hints nothing is matched: the same words keep the meaning the NLU gives
them.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from dialogue.spoken import LEADING_FILLERS, score_said
from logfields import fields

log = logging.getLogger(__name__)

EXPECTED_KEY = "expected_answers"
"""Message metadata: the hints of the bot's last message (the answers it expects)."""
ANSWER_FORMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "yes": (
        "affirm",
        ("yes", "yeah", "yep", "yup", "yes please", "yeah sure", "sure", "correct",
         "that's right", "okay", "uh huh"),
    ),
    "no": (
        "deny",
        ("no", "nah", "nope", "no thanks", "no thank you", "no that's wrong", "that's wrong",
         "not now", "incorrect"),
    ),
}  # fmt: skip
"""Per expected hint: the intent answering with it, and the short ways callers say it."""
REPEAT_FORMS: tuple[str, tuple[str, ...]] = (
    "repeat",
    ("pardon", "pardon me", "come again", "say again", "sorry what", "what was that"),
)
"""Asking to hear the question again is an answer to any question."""
SCORE_HINTS = frozenset({"one", "two", "three", "four", "five"})
"""The hints of the survey question ("from 1 to 5?"): its answer is a score."""
SCORE_INTENT = "rate_service"
MAX_WORDS = 4
"""Longer transcripts are sentences: the NLU reads them as they are."""
MIN_SIMILARITY = 0.75
"""Phoneme similarity (1 - edit distance / length) a form needs ("know that drum" to "no
that's wrong" is 0.78; "short" to "sure" 0.75; "not" to "no" 0.67)."""
MIN_MARGIN = 0.15
"""The best intent must sound this much closer than the next one."""
MATCHED_CONFIDENCE = 0.9
"""Confidence given to an answer recognised by sound rather than by its words."""
ESPEAK_TIMEOUT_S = 2.0
_STRESS = re.compile(r"[ˈˌːˑ‿\-_\s]")
_VOWELS = frozenset("aeiouæɐɑɒɔəɛɜɪʊʌøœɨʉɵɯɤᵻ")
_WORDS = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Answer:
    """A short transcript recognised as an expected answer."""

    intent: str
    form: str
    """The answer form it sounds like ("no that's wrong")."""
    similarity: float
    """1.0 for the form's own words; less for a sound-alike."""

    @property
    def confidence(self) -> float:
        return 1.0 if self.similarity >= 1.0 else min(self.similarity, MATCHED_CONFIDENCE)


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower().replace("\u2019", "'"))


@functools.lru_cache(maxsize=4096)
def sound_key(text: str) -> str:
    """``text``'s phonemes with stress and length dropped and each vowel run as ``V``
    ("pardon" and "power done" -> ``pVɹdVn``); empty when espeak-ng cannot say it."""
    try:
        done = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "en-us", text],
            capture_output=True,
            text=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("short_answers.espeak_failed", extra=fields(error=str(exc)))
        return ""
    phonemes = _STRESS.sub("", done.stdout).replace("ɚ", "əɹ").replace("ɝ", "ɜɹ")
    key: list[str] = []
    for char in phonemes:
        symbol = "V" if char in _VOWELS else char
        if not (symbol == "V" and key and key[-1] == "V"):
            key.append(symbol)
    return "".join(key)


def learn_forms() -> None:
    """Say every answer form once (one espeak-ng run each, about 16 ms), so the assistant does
    it at load: otherwise the first mangled answer after start-up waited for all 26 in turn,
    half a second, holding up every call's dialogue turn behind it."""
    for _, options in (*ANSWER_FORMS.values(), REPEAT_FORMS):
        for form in options:
            sound_key(form)


def expected_forms(hints: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The answer forms per intent the bot's hints call for (none: no yes/no question)."""
    wanted = {" ".join(words(hint)) for hint in hints}
    forms = {intent: f for hint, (intent, f) in ANSWER_FORMS.items() if hint in wanted}
    if forms:
        forms[REPEAT_FORMS[0]] = REPEAT_FORMS[1]
    return forms


def match_answer(text: str, hints: Sequence[str]) -> Answer | None:
    """The expected answer ``text`` is (by its words) or sounds like, or None."""
    said = words(text)
    while said[1:] and said[0] in LEADING_FILLERS:
        said = said[1:]
    if not said or len(said) > MAX_WORDS:
        return None
    plain = " ".join(said)
    if {" ".join(words(hint)) for hint in hints} == SCORE_HINTS:
        return _score_answer(plain)
    forms = expected_forms(hints)
    if not forms:
        return None
    for intent, options in forms.items():
        if plain in options:
            return Answer(intent, plain, 1.0)
    heard = sound_key(plain)
    if not heard:
        return None
    best: dict[str, tuple[float, str]] = {}
    for intent, options in forms.items():
        for form in options:
            key = sound_key(form)
            if not key or key[0] != heard[0]:
                continue
            similarity = Levenshtein.normalized_similarity(heard, key)
            if similarity > best.get(intent, (0.0, ""))[0]:
                best[intent] = (similarity, form)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])
    if not ranked:
        return None
    intent, (similarity, form) = ranked[0]
    runner_up = ranked[1][1][0] if len(ranked) > 1 else 0.0
    if similarity < MIN_SIMILARITY or similarity - runner_up < MIN_MARGIN:
        return None
    return Answer(intent, form, round(similarity, 3))


def _score_answer(plain: str) -> Answer | None:
    """A short answer to the survey question that names a score, by its number or by a first
    word that sounds like one ("Free, it was okay."); "good bye" names none. Only a score
    named by its own words is certain."""
    score = score_said(plain, answering=True)
    if score is None:
        return None
    exact = score_said(plain) == score
    return Answer(SCORE_INTENT, str(score), 1.0 if exact else MATCHED_CONFIDENCE)
