"""A recorded prompt uploaded by a designer, made into what the phone line carries.

Only an uncompressed PCM WAV is taken, read with the standard library's ``wave`` (no decoder
runs on an upload), at most ``MAX_UPLOAD_BYTES`` and ``MAX_RECORDING_S``; it is mixed to mono,
resampled with soxr to 8 kHz 16-bit and refused when it is silent. Every refusal is a sentence
for the page.
"""

from __future__ import annotations

from ivr.versions.recordings import MAX_RECORDING_S, RECORDING_RATE
from speech.audio import Audio, AudioError, read_wav_bytes, rms_dbfs, wav_bytes
from speech.resample import resample

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MIN_RECORDING_S = 0.3
RATES = (4000, 192_000)
"""Sample rates a recording may have (lowest, highest)."""
SILENT_DBFS = -55.0
"""Quieter than this throughout is an empty recording, not a quiet voice."""


class UploadRefused(ValueError):
    """An upload that is not a usable recording; the message says why, for the page."""


def phone_recording(data: bytes) -> bytes:
    """The uploaded WAV ``data`` as an 8 kHz mono 16-bit WAV (blocking), or
    :class:`UploadRefused`."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: trim it first."
        )
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UploadRefused("The file is not a WAV recording: upload an uncompressed .wav file.")
    try:
        audio = read_wav_bytes(data, MAX_RECORDING_S)
    except AudioError as exc:
        raise UploadRefused(
            f"The WAV file cannot be used ({exc}): upload uncompressed PCM audio of at most"
            f" {MAX_RECORDING_S:.0f} seconds."
        ) from exc
    if not RATES[0] <= audio.rate <= RATES[1]:
        raise UploadRefused(f"The recording's sample rate ({audio.rate} Hz) is not a voice's.")
    if audio.duration < MIN_RECORDING_S:
        raise UploadRefused(f"The recording is shorter than {MIN_RECORDING_S} seconds.")
    phone = Audio(resample(audio.samples, audio.rate, RECORDING_RATE), RECORDING_RATE)
    if rms_dbfs(phone.pcm) < SILENT_DBFS:
        raise UploadRefused("The recording is silent: nothing in it is loud enough to hear.")
    return wav_bytes(phone)
