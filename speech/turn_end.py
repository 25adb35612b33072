"""Does a transcript read as a finished turn? Lets the session end a turn before the hangover.

The endpointer's hangover (``vad.end_of_speech_ms``) has to be long enough for a caller who
pauses mid-sentence. When a transcript of the utterance so far is already in hand, most turns
can be closed sooner: "What's my balance?" is over, "I want to check my" is not. The rules are
deliberately cautious; a turn they do not vouch for simply waits out the full hangover.
"""

from __future__ import annotations

from speech.asr.scoring import DIGIT_WORDS, normalise_text
from speech.digits import DigitExpectation, read_digits

UNFINISHED_ENDINGS = frozenset(
    """
    a an the my your our their his her its this these those some any every each
    to for from of in on at with into onto about by as than per via
    and or but so because if then when while although though nor plus
    is are was were am i i'm i'd i'll i've it's that's there's what's we're you're they're
    want wanted need needed like um uh er erm hmm mm ah well also just oh point
    """.split()  # noqa: SIM905 - a word list reads best as words
)
"""Last words after which a sentence almost always goes on: articles, prepositions,
conjunctions, a bare "is", subject pronouns, "want"/"need", fillers, and the "oh" and "point"
of a number. Words that can end an answer ("yes I can", "thank you", "no", "please") are not
here."""
_LEADS_ON = UNFINISHED_ENDINGS | DIGIT_WORDS
LEAD_IN_ANSWERS = frozenset(
    "yes yeah yep yup no nope nah okay ok sure right alright fine well so".split()  # noqa: SIM905
)
"""Answers that, said alone, often lead into more: "No, that's everything.", "Yes, please.",
"Sure, why not." The comma pause after them is as long as an early end (240-480 ms of trailing
silence by the endpointer's measure on piper callers, with and without line noise), so a lone
one waits out the hangover; with more words after it the turn may end early."""


def sounds_finished(text: str, digits: DigitExpectation | None = None) -> bool:
    """True when ``text`` ends like a complete sentence: terminal punctuation (whisper's), no
    trailing ellipsis, and a last word that is neither a number (digits and amounts are read
    out in groups with pauses between them) nor a word that leads on. When the bot asked for
    ``digits``, an answer with all the digits it may have is finished too: nothing can follow."""
    if digits is not None and digits.complete(read_digits(text, digit_answer=True)):
        return True
    text = text.strip()
    if not text or text[-1] not in ".?!" or text.endswith("...") or text.endswith("\u2026"):
        return False
    words = normalise_text(text).split()
    if len(words) == 1 and words[0] in LEAD_IN_ANSWERS:
        return False
    return bool(words) and words[-1] not in _LEADS_ON
