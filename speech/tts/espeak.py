"""The pyttsx3 engine (espeak-ng driver): always available and very fast, if robotic.

pyttsx3's espeak driver is process-global and not thread-safe: espeak-ng can be initialised
once per process, the synthesis callback is global, and ``runAndWait`` returns before the
WAV file is written on the first call of a process (espeak-ng synthesises on its own thread).
So one dedicated worker thread owns the only pyttsx3 engine and every request is queued to it.
Each request writes a private temporary WAV with ``save_to_file``, runs ``runAndWait`` and then
waits for pyttsx3's ``finished-utterance`` event before reading the file. The driver's
"Audio saved to ..." print is swallowed. Voice and rate are set on every request, so engines
with different voices or rates can share the worker. pyttsx3's ``Synth`` is replaced by one that
tells espeak-ng the text's true size (see ``_synth``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from logfields import fields
from speech.audio import Audio, pcm_to_samples
from speech.tts.base import TtsEngine, TtsError
from speech.tts.sentences import split_sentences

log = logging.getLogger(__name__)

NATIVE_RATE = 22050
"""The pyttsx3 espeak driver always writes 22050 Hz WAVs (espeak-ng's own rate)."""
BASE_WPM = 175
"""espeak-ng's natural pace in words per minute: speaking_rate 1.0."""
MIN_WPM, MAX_WPM = 80, 450
_SAVED_NOTICE = "Audio saved to "

T = TypeVar("T")


@dataclass(frozen=True)
class EspeakVoice:
    """One voice as pyttsx3 lists it."""

    id: str
    """espeak-ng identifier, e.g. ``gmw/en-us``."""
    name: str
    """Readable name, e.g. ``English (America)``."""
    languages: tuple[str, ...]


def find_voice(voices: list[EspeakVoice], spec: str) -> EspeakVoice:
    """Pick a voice by identifier (``gmw/en-us``), file name (``en-us``), language or name.

    A ``+variant`` suffix (``en-gb+f2``) picks one of espeak-ng's voice variants of that voice.
    """
    base, plus, variant = spec.partition("+")
    if plus and variant.strip():
        voice = find_voice(voices, base)
        return replace(voice, id=f"{voice.id}+{variant.strip()}")
    wanted = spec.strip().lower()
    tests: list[Callable[[EspeakVoice], bool]] = [
        lambda v: v.id.lower() == wanted,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == wanted,
        lambda v: wanted in (lang.lower() for lang in v.languages),
        lambda v: v.name.lower() == wanted.replace("_", " "),
    ]
    for test in tests:
        for voice in voices:
            if test(voice):
                return voice
    english = sorted({lang for v in voices for lang in v.languages if lang.startswith("en")})
    raise TtsError(
        f"espeak-ng has no voice {spec!r}; English voices: {', '.join(english) or 'none'} "
        "(see espeak-ng --voices)"
    )


def words_per_minute(speaking_rate: float) -> int:
    return max(MIN_WPM, min(MAX_WPM, round(BASE_WPM * speaking_rate)))


@contextlib.contextmanager
def _swallow_saved_notice() -> Iterator[None]:
    """Hide the driver's "Audio saved to ..." print; anything else printed meanwhile is kept."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        kept = [
            line
            for line in buffer.getvalue().splitlines(keepends=True)
            if not line.startswith(_SAVED_NOTICE)
        ]
        if kept:
            sys.stdout.write("".join(kept))


def _synth(
    text: bytes | str,
    position: int = 0,
    position_type: int = 1,  # espeak-ng POS_CHARACTER
    end_position: int = 0,
    flags: int = 0,
    user_data: Any = None,
) -> int:
    """pyttsx3's ``_espeak.Synth`` with the text's true size.

    pyttsx3 2.99 passes ten times the text's length and espeak-ng copies that many bytes: a read
    past the end of the text that kills the process with a segmentation fault whenever it runs
    into unmapped memory (pyttsx3 issue #448, fixed the same way by its pull request #450).
    """
    from pyttsx3.drivers import _espeak

    data = text.encode("utf-8") if isinstance(text, str) else text
    return int(
        _espeak.cSynth(
            data, len(data) + 1, position, position_type, end_position, flags, None, user_data
        )
    )


class _Cancelled(TtsError):
    """espeak-ng reported the utterance as not completed."""


class Pyttsx3Worker:
    """The process's one pyttsx3 engine and the one thread allowed to touch it."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyttsx3")
        self._tmp = tempfile.TemporaryDirectory(prefix="ivr-pyttsx3-")
        self._engine: Any = None
        self._finished = threading.Event()
        self._errors: list[BaseException] = []
        self._completed = False
        self.calls = 0
        """Requests completed (for tests and metrics)."""

    def call(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """Run ``fn(*args)`` on the worker thread and wait for its result."""
        future = self._executor.submit(fn, *args)
        try:
            return future.result(timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise TtsError(f"pyttsx3 did not answer within {timeout:.0f} s") from exc

    # Everything below runs on the worker thread only.

    def voices(self) -> list[EspeakVoice]:
        engine = self._ensure_engine()
        return [
            EspeakVoice(str(v.id), str(v.name), tuple(v.languages or ()))
            for v in engine.getProperty("voices")
        ]

    def espeak_version(self) -> str:
        self._ensure_engine()
        from pyttsx3.drivers import _espeak

        info = _espeak.Info()
        return info.decode() if isinstance(info, bytes) else str(info)

    def synthesize(self, text: str, voice: str, wpm: int, timeout: float) -> Audio:
        engine = self._ensure_engine()
        self._errors.clear()
        engine.setProperty("voice", voice)
        engine.setProperty("rate", wpm)
        if self._errors:
            raise TtsError(f"pyttsx3 rejected voice {voice!r} or rate {wpm}: {self._errors[0]}")
        fd, path = tempfile.mkstemp(suffix=".wav", dir=self._tmp.name)
        os.close(fd)
        try:
            try:
                self._run(engine, text, path, timeout)
            except _Cancelled:  # espeak-ng dropped it; once more before giving up
                log.warning("tts.pyttsx3.retry", extra=fields(chars=len(text)))
                self._run(engine, text, path, timeout)
            audio = _read_wav(path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.calls += 1
        return audio

    def _ensure_engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        try:
            import pyttsx3
            from pyttsx3.drivers import _espeak

            _espeak.Synth = _synth
            engine = pyttsx3.init("espeak")
        except Exception as exc:  # missing libespeak-ng raises OSError/RuntimeError/...
            raise TtsError(
                f"pyttsx3 cannot start its espeak-ng driver ({exc}); "
                "install the espeak-ng and libespeak-ng1 Debian packages"
            ) from exc
        engine.connect("finished-utterance", self._on_finished)
        engine.connect("error", self._on_error)
        # Keep the engine even if the warm-up below fails: pyttsx3 holds engines weakly, and a
        # second engine would replace the process-global espeak-ng callback.
        self._engine = engine
        # The first runAndWait of a process returns before synthesis ends and property changes
        # are queued until then; one throw-away utterance puts the driver in its steady state.
        fd, path = tempfile.mkstemp(suffix=".wav", dir=self._tmp.name)
        os.close(fd)
        try:
            self._run(engine, "ready", path, 10.0)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        log.info("tts.pyttsx3.ready", extra=fields(driver="espeak"))
        return engine

    def _run(self, engine: Any, text: str, path: str, timeout: float) -> None:
        self._wait_idle()
        self._finished.clear()
        self._completed = False
        with _swallow_saved_notice():
            engine.save_to_file(text, path)
            try:
                engine.runAndWait()
            except Exception as exc:
                self._recover(engine)
                raise TtsError(f"pyttsx3 synthesis failed: {exc}") from exc
            done = self._finished.wait(timeout)
        if not done:
            self._recover(engine)
            raise TtsError(f"espeak-ng did not finish within {timeout:.0f} s")
        if self._errors:
            raise TtsError(f"pyttsx3 synthesis failed: {self._errors[0]}")
        if not self._completed:
            raise _Cancelled("espeak-ng cancelled the utterance")

    @staticmethod
    def _wait_idle(limit_s: float = 2.0) -> None:
        """Wait until espeak-ng's synthesis thread has wound down after the previous request.

        ``runAndWait`` stops whatever espeak-ng is still "playing" when it starts; right after an
        utterance espeak-ng can still report itself busy for a moment, and the new utterance
        would then be cancelled as soon as it starts.
        """
        from pyttsx3.drivers import _espeak

        deadline = time.monotonic() + limit_s
        while _espeak.IsPlaying() and time.monotonic() < deadline:
            time.sleep(0.001)

    @staticmethod
    def _recover(engine: Any) -> None:
        """Leave pyttsx3 ready for the next request after a failed one (resets its loop flags)."""
        with contextlib.suppress(Exception):
            engine.stop()
        with contextlib.suppress(Exception):
            if engine._inLoop:
                engine.endLoop()
        with contextlib.suppress(Exception):
            engine.proxy.setBusy(False)

    def _on_finished(self, completed: bool = True, **_: Any) -> None:
        self._completed = bool(completed)
        self._finished.set()

    def _on_error(self, exception: BaseException | None = None, **_: Any) -> None:
        if exception is not None:
            self._errors.append(exception)


def _read_wav(path: str) -> Audio:
    try:
        with wave.open(path, "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise TtsError("pyttsx3 wrote audio that is not mono 16-bit")
            rate = wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise TtsError(f"pyttsx3 wrote an unreadable WAV: {exc}") from exc
    return Audio(pcm_to_samples(pcm), rate)


_worker: Pyttsx3Worker | None = None
_worker_lock = threading.Lock()


def pyttsx3_worker() -> Pyttsx3Worker:
    """The shared worker (created on first use)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Pyttsx3Worker()
        return _worker


class Pyttsx3Tts(TtsEngine):
    """An espeak-ng voice through pyttsx3; ``speaking_rate`` 1.0 is 175 words per minute."""

    name = "pyttsx3"
    native_rate = NATIVE_RATE

    def __init__(self, voice: str = "en-us", speaking_rate: float = 1.0) -> None:
        if speaking_rate <= 0:
            raise ValueError(f"speaking rate must be positive, got {speaking_rate}")
        self._worker = pyttsx3_worker()
        start = time.perf_counter()
        voices = self._worker.call(self._worker.voices, timeout=30.0)
        self.voice = find_voice(voices, voice).id
        self.speaking_rate = speaking_rate
        self.wpm = words_per_minute(speaking_rate)
        self._revision = "espeak-ng " + self._worker.call(self._worker.espeak_version, timeout=30.0)
        log.debug(
            "tts.pyttsx3.voice",
            extra=fields(voice=self.voice, ms=round((time.perf_counter() - start) * 1000)),
        )

    @property
    def revision(self) -> str:
        return self._revision

    def synthesize(self, text: str) -> Iterator[Audio]:
        for sentence in split_sentences(text):
            inner = 20.0 + len(sentence) / 50
            audio = self._worker.call(
                self._worker.synthesize, sentence, self.voice, self.wpm, inner, timeout=inner + 60
            )
            if audio.rate != self.native_rate:
                raise TtsError(f"pyttsx3 produced {audio.rate} Hz, expected {self.native_rate} Hz")
            yield audio
