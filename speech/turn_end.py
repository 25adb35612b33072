"""Does a transcript read as a finished turn? Lets the session end a turn before the hangover.

The endpointer's hangover (``vad.end_of_speech_ms``) has to be long enough for a caller who
pauses mid-sentence. When a transcript of the utterance so far is already in hand, most turns
can be closed sooner: "What's my balance?" is over, "I want to check my" is not. The rules are
deliberately cautious; a turn they do not vouch for simply waits out the full hangover.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")
_NUMBER = re.compile(
    r"\d|(?:oh|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen"
    r"|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|point)$"
)
"""Digits and amounts are read out in groups with pauses between them."""

UNFINISHED_ENDINGS = frozenset(
    """
    a an the my your our their his her its this these those some any every each
    to for from of in on at with into onto about by as than per via
    and or but so because if then when while although though nor plus
    is are was were am i i'm i'd i'll i've it's that's there's what's we're you're they're
    want wanted need needed like um uh er erm hmm mm ah well also just
    """.split()  # noqa: SIM905 - a word list reads best as words
)
"""Last words after which a sentence almost always goes on: articles, prepositions,
conjunctions, a bare "is", subject pronouns, "want"/"need" and fillers. Words that can end
an answer ("yes I can", "thank you", "no", "please") are not here."""


def sounds_finished(text: str) -> bool:
    """True when ``text`` ends like a complete sentence: terminal punctuation (whisper's), no
    trailing ellipsis, and a last word that is neither a number nor a word that leads on."""
    text = text.strip()
    if not text or text[-1] not in ".?!" or text.endswith("...") or text.endswith("\u2026"):
        return False
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    if not words:
        return False
    last = words[-1]
    return last not in UNFINISHED_ENDINGS and not _NUMBER.match(last)
