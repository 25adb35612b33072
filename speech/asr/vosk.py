"""Vosk (Kaldi) streaming recognition: partial results while the caller speaks, word confidences,
and an optional phrase grammar per utterance.

A model directory is loaded once per process and shared; each call gets its own recogniser. Call
audio at any rate is resampled with soxr to the rate the model was trained on (``conf/mfcc.conf``
``--sample-frequency``, 16 kHz when absent). Grammars need a model with a runtime graph
(``graph/HCLr.fst`` + ``Gr.fst``, as the small models have); other models ignore hints.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from logfields import fields
from speech.asr.base import (
    MAX_AUDIO_SECONDS,
    AsrEngine,
    AsrError,
    AsrStream,
    Transcript,
    Vocabulary,
    Word,
    clean_hints,
)
from speech.digits import DIGIT_VOCABULARY, DigitExpectation
from speech.resample import StreamResampler

log = logging.getLogger(__name__)

DEFAULT_MODEL_RATE = 16000
UNKNOWN = "[unk]"
"""Vosk's garbage word: lets speech outside a grammar come out as 'not understood'."""
DIGIT_ANSWER_WAY_OUT = ("start again", "agent")
"""Besides digits, what a caller may say when digits are expected: the grammar keeps it."""
_SAMPLE_FREQUENCY = re.compile(r"^\s*--sample-frequency\s*=\s*(\d+(?:\.\d*)?)", re.MULTILINE)

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def model_sample_rate(model_dir: str | Path) -> int:
    """The rate a vosk model expects, from ``conf/mfcc.conf`` (16000 when not stated)."""
    conf = Path(model_dir) / "conf" / "mfcc.conf"
    if conf.is_file():
        match = _SAMPLE_FREQUENCY.search(conf.read_text(encoding="utf-8", errors="replace"))
        if match:
            return int(float(match.group(1)))
    return DEFAULT_MODEL_RATE


def supports_grammar(model_dir: str | Path) -> bool:
    """True for models with a runtime (lookahead) graph, which accept phrase grammars."""
    graph = Path(model_dir) / "graph"
    return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


def load_model(model_dir: str | Path) -> Any:
    """Load a vosk model once per process (cached by resolved path)."""
    path = Path(model_dir).resolve()
    with _models_lock:
        model = _models.get(str(path))
        if model is not None:
            return model
        if not (path / "am").is_dir() and not (path / "final.mdl").is_file():
            raise AsrError(f"{path}: not a vosk model directory (no am/ or final.mdl)")
        import vosk

        vosk.SetLogLevel(-1)
        started = time.perf_counter()
        try:
            model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception when the model fails to load
            raise AsrError(f"{path}: cannot load vosk model ({exc})") from exc
        log.info(
            "asr.vosk.loaded",
            extra=fields(model=str(path), ms=round((time.perf_counter() - started) * 1000)),
        )
        _models[str(path)] = model
        return model


def _normalise_phrase(phrase: str) -> str:
    """Vosk vocabularies are lower-case words without punctuation (apostrophes kept)."""
    text = phrase.lower().replace("\u2019", "'").replace("-", " ")
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


class VoskEngine(AsrEngine):
    """A vosk model shared by all calls; one streaming recogniser per call."""

    name = "vosk"

    def __init__(
        self,
        model_dir: str | Path,
        vocabulary: Vocabulary | None = None,
        domain_grammar: bool = False,
        max_seconds: float = MAX_AUDIO_SECONDS,
        max_concurrent: int = 2,
    ) -> None:
        super().__init__(max_seconds=max_seconds, max_concurrent=max_concurrent)
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise AsrError(f"vosk model directory {str(self.model_dir)!r} does not exist")
        self.sample_rate = model_sample_rate(self.model_dir)
        self.grammar_supported = supports_grammar(self.model_dir)
        self.vocabulary = vocabulary or Vocabulary()
        self.domain_grammar = domain_grammar
        self._model: Any = None
        self._known: dict[str, bool] = {}
        self._known_lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_model(self.model_dir)
        return self._model

    def load(self) -> None:
        """Load the model now instead of on the first call."""
        _ = self.model

    def knows(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary."""
        with self._known_lock:
            known = self._known.get(word)
            if known is None:
                known = self._known[word] = self.model.vosk_model_find_word(word) >= 0
            return known

    def grammar(
        self, hints: Sequence[str] = (), digits: DigitExpectation | None = None
    ) -> list[str] | None:
        """The phrase list for an utterance: ``hints`` (else the domain grammar when enabled),
        restricted to phrases whose words the model knows, plus ``[unk]`` when the model has it.
        ``digits``: the utterance answers a request for digits, so digit words and their spoken
        forms ("oh", "double", "ninety", "hundred") are the grammar, with ``hints`` and a way
        out ("agent", "start again"). ``None`` means the model's full language model."""
        phrases = clean_hints(hints)
        if digits is not None:
            phrases = clean_hints((*DIGIT_VOCABULARY, *phrases, *DIGIT_ANSWER_WAY_OUT))
        elif not phrases and self.domain_grammar:
            phrases = clean_hints((*self.vocabulary.phrases, *self.vocabulary.terms))
        if not phrases:
            return None
        if not self.grammar_supported:
            log.debug("asr.vosk.grammar_unsupported", extra=fields(model=str(self.model_dir)))
            return None
        usable: list[str] = []
        dropped: list[str] = []
        for phrase in phrases:
            text = _normalise_phrase(phrase)
            if text and all(self.knows(word) for word in text.split()):
                if text not in usable:
                    usable.append(text)
            else:
                dropped.append(phrase)
        if dropped:
            log.debug("asr.vosk.grammar_dropped", extra=fields(phrases=dropped[:20]))
        if not usable:
            log.warning(
                "asr.vosk.grammar_empty",
                extra=fields(reason="no hint phrase is in the model's vocabulary"),
            )
            return None
        if self.knows(UNKNOWN):
            usable.append(UNKNOWN)
        return usable

    def open_stream(self, input_rate: int, hints: Sequence[str] = ()) -> AsrStream:
        return VoskStream(self, input_rate, hints)


class VoskStream(AsrStream):
    """A KaldiRecognizer fed through a resampler; partials as they change, a final per finish."""

    def __init__(self, engine: VoskEngine, input_rate: int, hints: Sequence[str]) -> None:
        super().__init__(input_rate, hints, engine.max_seconds)
        import vosk

        self.engine = engine
        self.grammar = engine.grammar(self.hints, self.digits)
        model = engine.model
        if self.grammar is None:
            self._recognizer = vosk.KaldiRecognizer(model, engine.sample_rate)
        else:
            grammar_json = json.dumps(self.grammar, ensure_ascii=False)
            self._recognizer = vosk.KaldiRecognizer(model, engine.sample_rate, grammar_json)
        self._recognizer.SetWords(True)
        self._resampler = StreamResampler(input_rate, engine.sample_rate)
        self._segments: list[dict[str, Any]] = []
        self._partial = ""
        self._idle = True
        self._pending_hints = False
        self._samples_total = 0
        """Samples the recogniser consumed since it was made; its word times count from there."""
        self._utterance_start = 0

    def set_hints(self, hints: Sequence[str]) -> None:
        """Grammar for the next utterance (applied at once when idle, else after ``finish``)."""
        super().set_hints(hints)
        self._pending_hints = True
        if self._idle:
            self._apply_hints()

    def set_digits(self, digits: DigitExpectation | None) -> None:
        """Digit grammar for the next utterance (applied like hints)."""
        super().set_digits(digits)
        self._pending_hints = True
        if self._idle:
            self._apply_hints()

    def _apply_hints(self) -> None:
        self._pending_hints = False
        grammar = self.engine.grammar(self.hints, self.digits)
        if grammar == self.grammar or not self.engine.grammar_supported:
            return
        self.grammar = grammar
        # "[]" restores the model's own language model.
        self._recognizer.SetGrammar(json.dumps(grammar or [], ensure_ascii=False))

    def _accept(self, pcm: bytes) -> Transcript | None:
        self._idle = False
        data = self._resampler.process(pcm)
        if not data:
            return None
        self._samples_total += len(data) // 2
        if self._recognizer.AcceptWaveform(data):
            # Vosk's own endpoint inside our utterance: keep the segment, go on listening.
            self._segments.append(json.loads(self._recognizer.Result()))
            current = ""
        else:
            current = json.loads(self._recognizer.PartialResult()).get("partial", "")
        text = " ".join(
            t for t in (*(_text_of(s.get("result", ())) for s in self._segments), current) if t
        )
        text = _drop_unknown(text)
        if text == self._partial:
            return None
        self._partial = text
        return Transcript(text=text, confidence=0.0, is_final=False)

    def _finish(self) -> Transcript:
        tail = self._resampler.flush()
        self._samples_total += len(tail) // 2
        if tail and self._recognizer.AcceptWaveform(tail):
            self._segments.append(json.loads(self._recognizer.Result()))
        final = json.loads(self._recognizer.FinalResult())
        segments = [*self._segments, final]
        self._segments = []
        self._partial = ""
        self._idle = True
        self._resampler = StreamResampler(self.input_rate, self.engine.sample_rate)
        offset = self._utterance_start / self.engine.sample_rate
        self._utterance_start = self._samples_total
        words: list[Word] = []
        for segment in segments:
            for item in segment.get("result", ()):
                words.append(
                    Word(
                        text=str(item["word"]),
                        start=round(max(0.0, float(item["start"]) - offset), 3),
                        end=round(max(0.0, float(item["end"]) - offset), 3),
                        confidence=round(float(item.get("conf", 0.0)), 3),
                    )
                )
        if self._pending_hints:
            self._apply_hints()
        spoken = [w for w in words if w.text != UNKNOWN]
        text = " ".join(w.text for w in spoken)
        confidence = round(sum(w.confidence for w in spoken) / len(spoken), 3) if spoken else 0.0
        return Transcript(text=text, confidence=confidence, is_final=True, words=tuple(words))

    def close(self) -> None:
        self._recognizer = None


def _text_of(result: Sequence[dict[str, Any]]) -> str:
    return " ".join(str(item["word"]) for item in result)


def _drop_unknown(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNKNOWN)
