"""The local microphone and speaker as a call, through pyaudio (PortAudio).

``ivr talk`` uses it to talk to the bot without a phone. Two PortAudio streams at the devices'
own rates run in PortAudio's threads: the microphone callback hands its audio to the event loop,
the speaker callback takes what the bridge's pacer put in a small buffer in real time (so a
barge-in clears it at once). soxr converts between the device rates and the call rate. Only the
device streams are PortAudio's; everything else is the same StreamBridge as a phone call's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import pyaudio

from speech.resample import StreamResampler
from telephony.bridge import CallInfo
from telephony.stream import StreamBridge


class NoAudioDevice(RuntimeError):
    """No usable microphone or speaker: the message says what is missing and what to do."""


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    rate: int
    """The device's default sample rate (what it runs at without resampling)."""


def list_devices(pa: Any) -> list[AudioDevice]:
    """Every device PortAudio knows, with its channel counts and default rate."""
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        devices.append(
            AudioDevice(
                index=index,
                name=str(info.get("name", f"device {index}")),
                inputs=int(info.get("maxInputChannels", 0)),
                outputs=int(info.get("maxOutputChannels", 0)),
                rate=int(info.get("defaultSampleRate", 0)),
            )
        )
    return devices


def pick_devices(
    pa: Any, input_index: int | None = None, output_index: int | None = None
) -> tuple[AudioDevice, AudioDevice]:
    """The microphone and speaker to use: the given indexes, else the system defaults."""
    devices = list_devices(pa)
    if not any(d.inputs for d in devices) or not any(d.outputs for d in devices):
        missing = "microphone" if not any(d.inputs for d in devices) else "speaker"
        raise NoAudioDevice(
            f"no audio device with a {missing} was found (PortAudio lists {len(devices)} "
            "devices): connect a headset, or check that ALSA/PulseAudio sees one"
        )
    return _pick(pa, devices, input_index, "input"), _pick(pa, devices, output_index, "output")


def _pick(pa: Any, devices: list[AudioDevice], index: int | None, kind: str) -> AudioDevice:
    if index is None:
        try:
            info = getattr(pa, f"get_default_{kind}_device_info")()
        except OSError:
            raise NoAudioDevice(
                f"there is no default {kind} device; choose one with --{kind}-device "
                "(`ivr talk --list-devices` lists them)"
            ) from None
        index = int(info["index"])
    chosen = next((d for d in devices if d.index == index), None)
    channels = 0 if chosen is None else chosen.inputs if kind == "input" else chosen.outputs
    if chosen is None or not channels:
        raise NoAudioDevice(
            f"device {index} has no {kind} channels; `ivr talk --list-devices` lists devices"
        )
    return chosen


class SpeakerBuffer:
    """Bot audio waiting for the speaker callback (PortAudio's thread): locked, clearable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pcm = bytearray()

    def push(self, pcm: bytes) -> None:
        with self._lock:
            self._pcm += pcm

    def take(self, size: int) -> bytes:
        with self._lock:
            chunk = bytes(self._pcm[:size])
            del self._pcm[:size]
        return chunk + bytes(size - len(chunk))

    def clear(self) -> None:
        with self._lock:
            self._pcm.clear()


class LocalAudioBridge(StreamBridge):
    """A call between the bot and whoever sits at this machine's microphone and speaker."""

    def __init__(self, pa: Any, microphone: AudioDevice, speaker: AudioDevice) -> None:
        info = CallInfo(
            call_id=f"local-{uuid.uuid4().hex[:12]}",
            transport="local",
            caller="local",
            extra={"microphone": microphone.name, "speaker": speaker.name},
        )
        super().__init__(info)
        self._pa = pa
        self._microphone = microphone
        self._speaker_device = speaker
        self._speaker = SpeakerBuffer()
        self._from_mic = StreamResampler(microphone.rate, self.rate, quality="LQ")
        self._to_speaker = StreamResampler(self.rate, speaker.rate, quality="QQ")
        self._streams: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        """Open both device streams (PortAudio starts calling back at once)."""
        self._loop = asyncio.get_running_loop()
        for device, is_input, callback in (
            (self._microphone, True, self._mic_callback),
            (self._speaker_device, False, self._speaker_callback),
        ):
            self._streams.append(
                self._pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=device.rate,
                    input=is_input,
                    output=not is_input,
                    input_device_index=device.index if is_input else None,
                    output_device_index=None if is_input else device.index,
                    frames_per_buffer=device.rate * self.frame_ms // 1000,
                    stream_callback=callback,
                )
            )

    def _mic_callback(self, data: bytes | None, frames: int, *_: Any) -> tuple[None, int]:
        if data and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._heard, data)
        return None, pyaudio.paContinue

    def _heard(self, data: bytes) -> None:
        self.audio_in(self._from_mic.process(data))

    def _speaker_callback(self, _: bytes | None, frames: int, *__: Any) -> tuple[bytes, int]:
        return self._speaker.take(frames * 2), pyaudio.paContinue

    async def write_audio(self, frame: bytes) -> None:
        self._speaker.push(self._to_speaker.process(frame))

    async def write_clear(self) -> None:
        self._speaker.clear()

    async def close_wire(self) -> None:
        streams, self._streams = self._streams, []
        for stream in streams:
            await asyncio.to_thread(_close_stream, stream)


def _close_stream(stream: Any) -> None:
    stream.stop_stream()
    stream.close()
