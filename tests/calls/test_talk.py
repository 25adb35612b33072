"""``ivr talk``: a call through the sound card, with PortAudio replaced only at the device.

``FakePyAudio`` stands where ``pyaudio.PyAudio`` would: it lists devices and opens streams whose
callbacks run in their own threads every 20 ms of device time, fed by the test's microphone
audio and recording what the speaker got. Everything above it (bridge, pacer, resampling,
CallSession, engines, the assistant) is the real thing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pyaudio
import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.services import Services
from ivr.talk import talk
from speech.resample import resample
from tests.calls.conftest import RATE, caller_says, records, speech_onset_bytes, transcribe

DEVICE_RATE = 16000
DEVICE_FRAME = DEVICE_RATE // 50


class FakeStream:
    """A PortAudio callback stream: one callback per 20 ms on the device's own clock."""

    def __init__(self, device: FakePyAudio, is_input: bool, callback: Any, frames: int) -> None:
        assert frames == DEVICE_FRAME
        self._device = device
        self._is_input = is_input
        self._callback = callback
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        tick = 0
        while self._running:
            if self._is_input:
                self._callback(self._device.microphone_frame(), DEVICE_FRAME, {}, 0)
            else:
                out, flag = self._callback(None, DEVICE_FRAME, {}, 0)
                assert flag == pyaudio.paContinue and len(out) == DEVICE_FRAME * 2
                self._device.speaker_played(out)
            tick += 1
            time.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))

    def stop_stream(self) -> None:
        self._running = False
        self._thread.join(1.0)

    def close(self) -> None:
        self._running = False


class FakePyAudio:
    """The device boundary: a headset with a 16 kHz microphone and speaker (or no devices)."""

    def __init__(self, devices: bool = True) -> None:
        self._devices = (
            [{"index": 0, "name": "test headset", "maxInputChannels": 1,
              "maxOutputChannels": 2, "defaultSampleRate": float(DEVICE_RATE)}]
            if devices
            else []
        )  # fmt: skip
        self._lock = threading.Lock()
        self._mouth = bytearray()
        self.played = bytearray()
        self.streams: list[FakeStream] = []

    def get_device_count(self) -> int:
        return len(self._devices)

    def get_device_info_by_index(self, index: int) -> dict[str, Any]:
        return self._devices[index]

    def get_default_input_device_info(self) -> dict[str, Any]:
        if not self._devices:
            raise OSError("No Default Input Device Available")
        return self._devices[0]

    def get_default_output_device_info(self) -> dict[str, Any]:
        if not self._devices:
            raise OSError("No Default Output Device Available")
        return self._devices[0]

    def open(self, **options: Any) -> FakeStream:
        assert options["format"] == pyaudio.paInt16 and options["channels"] == 1
        assert options["rate"] == DEVICE_RATE
        stream = FakeStream(
            self, options["input"], options["stream_callback"], options["frames_per_buffer"]
        )
        self.streams.append(stream)
        return stream

    def terminate(self) -> None:
        pass

    # -- the person at the headset -------------------------------------------------------

    def speak(self, pcm_8k: bytes) -> None:
        samples = resample(np.frombuffer(pcm_8k, "<i2"), RATE, DEVICE_RATE)
        with self._lock:
            self._mouth += samples.astype("<i2").tobytes()

    def microphone_frame(self) -> bytes:
        with self._lock:
            frame = bytes(self._mouth[: DEVICE_FRAME * 2])
            del self._mouth[: DEVICE_FRAME * 2]
        return frame + bytes(DEVICE_FRAME * 2 - len(frame))

    def speaker_played(self, pcm: bytes) -> None:
        with self._lock:
            self.played += pcm

    def heard_8k(self, start: int = 0) -> bytes:
        with self._lock:
            pcm = bytes(self.played[start:])
        return resample(np.frombuffer(pcm, "<i2"), DEVICE_RATE, RATE).astype("<i2").tobytes()


def test_talk_without_an_audio_device_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(pyaudio, "PyAudio", lambda: FakePyAudio(devices=False))
    result = CliRunner().invoke(main, ["talk"])
    assert result.exit_code == 1
    assert "no audio device with a microphone was found" in result.output, result.output


async def wait_for_quiet(device: FakePyAudio, start: int, quiet_s: float = 1.6) -> bytes:
    """The speaker's audio from ``start`` once the bot spoke and then fell quiet."""
    quiet = int(quiet_s * DEVICE_RATE) * 2
    for _ in range(1800):
        said = device.played[start:]
        if any(said) and len(said) > quiet and not any(said[-quiet:]):
            return device.heard_8k(start)
        await asyncio.sleep(0.05)
    raise TimeoutError("the bot did not speak and fall quiet")


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_talk_hears_the_caller_and_stops_for_barge_in(
    services: Services, voice, call_dirs
) -> None:
    device = FakePyAudio()
    stop = asyncio.Event()
    call = asyncio.create_task(talk(services.config, device, services=services, stop=stop))
    try:
        greeting = await transcribe(services, await wait_for_quiet(device, 0))
        assert "help" in greeting, greeting

        device.speak(caller_says(voice, "What can you do for me?"))
        start = len(device.played)
        for _ in range(300):
            if any(device.played[start:]):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the menu is playing: talk over it
        question = caller_says(voice, "What are your opening hours?")
        onset = len(device.played) + speech_onset_bytes(question) * DEVICE_RATE // RATE
        device.speak(question)
        await asyncio.sleep(len(question) / 2 / RATE)
        answer = await transcribe(services, await wait_for_quiet(device, len(device.played)))
        assert "open" in answer, answer
    finally:
        stop.set()
        outcome = await asyncio.wait_for(call, 30)
    assert outcome == "abandoned"
    heard = np.frombuffer(bytes(device.played[onset:]), "<i2")
    frame = DEVICE_FRAME
    frames = np.abs(heard[: len(heard) // frame * frame].reshape(-1, frame)).max(axis=1)
    quiet = [i for i in range(len(frames) - 10) if not frames[i : i + 10].any()]
    stop_ms = quiet[0] * 20 if quiet else None
    assert stop_ms is not None and stop_ms <= 300, f"the menu went on {stop_ms} ms"
    rows = services.records.recent_calls(5)
    row, turns = records(call_dirs, next(r["call_id"] for r in rows if r["transport"] == "local"))
    assert row["outcome"] == "abandoned" and row["recording"], row
    assert [t["input_kind"] for t in turns[:3]] == ["start", "speech", "speech"], turns
    assert turns[2]["barged_in"] and turns[2]["intent"] == "branch_hours", turns[2]
    assert all(not s._running for s in device.streams), "the device streams were closed"
