"""The pacer sends a frame every 20 ms on an absolute schedule and stops audio at once on clear."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from speech.audio import rms_dbfs
from telephony.pacing import Pacer

FRAME = 320


class Recorder:
    """Collects what the pacer sends, with the loop time and the pacer's flags."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.times: list[float] = []
        self.fillers: list[bool] = []
        self.spurts: list[bool] = []
        self.pacer: Pacer | None = None
        self.delay = 0.0

    def __call__(self, frame: bytes) -> None:
        assert self.pacer is not None
        self.frames.append(frame)
        self.times.append(asyncio.get_running_loop().time())
        self.fillers.append(self.pacer.frame_is_filler)
        self.spurts.append(self.pacer.talkspurt_start)
        if self.delay:
            end = time.perf_counter() + self.delay
            while time.perf_counter() < end:
                pass


def make(**kwargs) -> tuple[Pacer, Recorder]:
    recorder = Recorder()
    pacer = Pacer(recorder, **kwargs)
    recorder.pacer = pacer
    return pacer, recorder


def pcm_of(value: int, frames: float) -> bytes:
    return np.full(int(frames * 160), value, dtype="<i2").tobytes()


async def test_one_frame_every_20_ms_over_two_seconds() -> None:
    pacer, recorder = make()
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.start()
    await asyncio.sleep(2.0)
    elapsed = loop.time() - start
    pacer.stop()
    expected = int(elapsed / 0.02) + 1
    assert abs(len(recorder.frames) - expected) <= 3
    assert all(len(f) == FRAME for f in recorder.frames)
    assert all(recorder.fillers)  # nothing queued: silence keeps the stream alive
    assert set(recorder.frames) == {bytes(FRAME)}


async def test_schedule_does_not_drift_when_each_frame_costs_time() -> None:
    pacer, recorder = make()
    recorder.delay = 0.006  # a slow encoder: a naive sleep(0.02) loop would fall 30 % behind
    pacer.start()
    await asyncio.sleep(2.0)
    pacer.stop()
    t0 = recorder.times[0]
    offsets = [t - (t0 + 0.02 * pacer_slot) for pacer_slot, t in enumerate(recorder.times)]
    assert abs(len(recorder.frames) - 101) <= 3
    assert abs(float(np.median(offsets[-20:]))) < 0.015


async def test_queued_audio_is_cut_into_frames_and_played_in_real_time() -> None:
    pacer, recorder = make()
    pacer.start()
    loop = asyncio.get_running_loop()
    pacer.play(pcm_of(1000, 25))
    start = loop.time()
    assert pacer.playing
    await pacer.wait_played()
    took = loop.time() - start
    pacer.stop()
    assert 0.4 <= took <= 0.6
    audio = [f for f, filler in zip(recorder.frames, recorder.fillers, strict=True) if not filler]
    assert len(audio) == 25
    assert all(f == pcm_of(1000, 1) for f in audio)
    assert recorder.spurts.count(True) == 1
    assert not pacer.playing


async def test_clear_stops_queued_audio_immediately() -> None:
    pacer, recorder = make()
    pacer.start()
    pacer.play(pcm_of(3000, 100))  # two seconds
    await asyncio.sleep(0.3)
    waiter = asyncio.ensure_future(pacer.wait_played())
    await asyncio.sleep(0)
    sent_before = len(recorder.frames)
    pacer.clear()
    assert not pacer.playing
    await asyncio.wait_for(waiter, 0.05)  # wait_played returns at once on clear
    await asyncio.sleep(0.3)
    pacer.stop()
    after = recorder.frames[sent_before:]
    assert len(after) >= 10
    assert all(f == bytes(FRAME) for f in after)  # not one more audio frame
    assert pacer.cleared_frames >= 80


async def test_underrun_is_counted_when_audio_arrives_late_within_a_playback() -> None:
    pacer, _ = make()
    pacer.start()
    pacer.play(pcm_of(500, 5))
    await asyncio.sleep(0.25)  # the producer is late with the next sentence
    pacer.play(pcm_of(500, 5))
    await pacer.wait_played()
    assert pacer.underruns == 1
    assert pacer.underrun_frames >= 5
    # A new playback after the producer said it was done is not an underrun.
    await asyncio.sleep(0.1)
    pacer.play(pcm_of(500, 3))
    await pacer.wait_played()
    pacer.stop()
    assert pacer.underruns == 1


def longest_burst(times: list[float]) -> int:
    """Most frames sent back to back (within 2 ms of each other)."""
    run = longest = 1
    for gap in np.diff(np.array(times)):
        run = run + 1 if gap < 0.002 else 1
        longest = max(longest, run)
    return longest


async def test_loop_stall_is_caught_up_two_frames_at_a_time_without_losing_count() -> None:
    pacer, recorder = make(max_catch_up=2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.start()
    await asyncio.sleep(0.2)
    time.sleep(0.15)  # block the event loop for 7.5 frame periods
    await asyncio.sleep(0.6)
    elapsed = loop.time() - start
    pacer.stop()
    assert pacer.late_ticks >= 1
    assert pacer.skipped_slots == 0
    assert longest_burst(recorder.times) <= 2
    assert abs(len(recorder.frames) - (int(elapsed / 0.02) + 1)) <= 3


async def test_a_stall_longer_than_the_backlog_skips_slots_but_keeps_time() -> None:
    pacer, recorder = make(max_catch_up=2, max_backlog=5)
    loop = asyncio.get_running_loop()
    pacer.start()
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # 15 frame periods
    await asyncio.sleep(0.3)
    pacer.stop()
    assert pacer.skipped_slots >= 5
    assert longest_burst(recorder.times) <= 2
    # slots follow wall-clock time, so RTP timestamps stay true
    assert abs(pacer.slot - int((loop.time() - recorder.times[0]) / 0.02)) <= 3


async def test_trailing_partial_frame_is_padded_when_the_producer_is_done() -> None:
    pacer, recorder = make()
    pacer.start()
    pacer.play(pcm_of(700, 1.5))
    await asyncio.wait_for(pacer.wait_played(), 1.0)
    pacer.stop()
    audio = [f for f, filler in zip(recorder.frames, recorder.fillers, strict=True) if not filler]
    assert audio[0] == pcm_of(700, 1)
    assert audio[1] == pcm_of(700, 0.5) + bytes(160)


async def test_comfort_noise_filler_is_quiet_but_not_digital_silence() -> None:
    pacer, recorder = make(filler="comfort_noise")
    pacer.start()
    await asyncio.sleep(0.1)
    pacer.stop()
    assert recorder.frames and all(f != bytes(FRAME) for f in recorder.frames)
    level = rms_dbfs(b"".join(recorder.frames))
    assert -75 < level < -55


async def test_a_stopped_pacer_never_starts_again() -> None:
    pacer, recorder = make()
    pacer.start()
    await asyncio.sleep(0.05)
    pacer.stop()
    sent = len(recorder.frames)
    pacer.start()  # its call ended: whoever starts it late must not revive the clock
    await asyncio.sleep(0.1)
    assert not pacer.running and len(recorder.frames) == sent
