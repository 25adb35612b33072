"""16-bit mono PCM audio: the one in-memory format of the speech layer, plus file I/O and framing.

Everything inside the bot is signed 16-bit little-endian mono PCM at a known rate. Files of any
format, rate or channel count are decoded with PyAV (FFmpeg) and mixed down at the edge.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_WIDTH = 2
"""Bytes per sample of 16-bit PCM."""
MAX_FILE_SECONDS = 3 * 3600
"""Longest file the tools will decode; longer input is refused rather than exhausting memory."""

Samples = npt.NDArray[np.int16]


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, wrong shape or too long."""


@dataclass(frozen=True)
class Audio:
    """A mono clip: int16 samples and their rate."""

    samples: Samples
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def pcm(self) -> bytes:
        return self.samples.astype("<i2", copy=False).tobytes()

    @classmethod
    def from_pcm(cls, pcm: bytes, rate: int) -> Audio:
        return cls(pcm_to_samples(pcm), rate)


def frame_size(rate: int, ms: int) -> int:
    """Bytes in one frame of ``ms`` milliseconds of 16-bit mono PCM at ``rate``."""
    return rate * ms // 1000 * SAMPLE_WIDTH


def pcm_to_samples(pcm: bytes) -> Samples:
    if len(pcm) % SAMPLE_WIDTH:
        raise AudioError(f"PCM length {len(pcm)} is not a whole number of 16-bit samples")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)


def float_to_samples(signal: npt.NDArray[np.floating]) -> Samples:
    """Convert float audio in [-1, 1] to int16 with clipping (no wrap-around)."""
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def iter_frames(pcm: bytes, rate: int, ms: int, pad: bool = True) -> Iterator[bytes]:
    """Cut PCM into frames of ``ms``; the last partial frame is zero-padded or dropped."""
    size = frame_size(rate, ms)
    for start in range(0, len(pcm), size):
        frame = pcm[start : start + size]
        if len(frame) < size:
            if not pad:
                return
            frame = frame + b"\x00" * (size - len(frame))
        yield frame


def silence(rate: int, ms: int) -> bytes:
    return b"\x00" * frame_size(rate, ms)


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of a PCM chunk in dB relative to full scale (-inf for digital silence)."""
    samples = pcm_to_samples(pcm).astype(np.float64)
    if not len(samples):
        return float("-inf")
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * np.log10(rms / 32768.0) if rms > 0 else float("-inf")


def load_audio(path: str | Path, max_seconds: float = MAX_FILE_SECONDS) -> Audio:
    """Decode any audio file FFmpeg understands to mono int16 at its own rate."""
    import av  # PyAV ships FFmpeg in its wheel; imported lazily because it is heavy

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from exc
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"{path}: contains no audio stream")
        rate = streams[0].rate or streams[0].codec_context.sample_rate
        if not rate:
            raise AudioError(f"{path}: audio stream has no sample rate")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        limit = int(max_seconds * rate)
        chunks: list[Samples] = []
        total = 0
        try:
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                    total += len(chunk)
                    if total > limit:
                        raise AudioError(
                            f"{path}: longer than the {max_seconds:.0f} s this tool accepts"
                        )
                    chunks.append(chunk)
        except av.error.FFmpegError as exc:
            raise AudioError(f"{path}: audio data is corrupt ({exc})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if not len(samples):
        raise AudioError(f"{path}: contains no audio samples")
    return Audio(samples, rate)


def write_wav(path: str | Path, audio: Audio) -> None:
    """Write a mono 16-bit WAV."""
    write_wav_channels(path, [audio.samples], audio.rate)


def wav_bytes(audio: Audio) -> bytes:
    """``audio`` as the bytes of a mono 16-bit WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(audio.rate)
        wav.writeframes(audio.pcm)
    return out.getvalue()


def read_wav_bytes(data: bytes, max_seconds: float = MAX_FILE_SECONDS) -> Audio:
    """A PCM WAV file's bytes as mono int16 at its own rate (stdlib ``wave``: no decoder runs
    on bytes someone uploaded). 8-, 16-, 24- and 32-bit integer PCM, channels averaged."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.getnframes()
            if not rate or frames > max_seconds * rate:
                raise AudioError(f"longer than {max_seconds:.0f} seconds (or no sample rate)")
            raw = wav.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a PCM WAV file ({exc})") from exc
    if width not in (1, 2, 3, 4) or not channels:
        raise AudioError(f"{width * 8}-bit samples are not supported")
    usable = len(raw) // (width * channels) * width * channels
    if not usable:
        raise AudioError("holds no audio samples")
    return Audio(_mono(_as_int32(raw[:usable], width), channels), rate)


def _as_int32(raw: bytes, width: int) -> npt.NDArray[np.int32]:
    """Little-endian PCM samples of ``width`` bytes, scaled to the int32 range."""
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 24
    if width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        return (bytes3[:, 0] << 8) | (bytes3[:, 1] << 16) | (bytes3[:, 2] << 24)
    dtype = "<i2" if width == 2 else "<i4"
    return np.frombuffer(raw, dtype=dtype).astype(np.int32) << (32 - width * 8)


def _mono(samples: npt.NDArray[np.int32], channels: int) -> Samples:
    mixed = samples.reshape(-1, channels).astype(np.float64).mean(axis=1)
    return (mixed / 65536.0).round().clip(-32768, 32767).astype(np.int16)


def write_wav_channels(path: str | Path, channels: list[Samples], rate: int) -> None:
    """Write a 16-bit WAV with one or more channels of equal length (shorter ones are padded)."""
    if not channels:
        raise AudioError("no channels to write")
    length = max(len(c) for c in channels)
    padded = [np.pad(c, (0, length - len(c))) for c in channels]
    interleaved = np.stack(padded, axis=1).astype("<i2").tobytes()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(rate)
        out.writeframes(interleaved)
