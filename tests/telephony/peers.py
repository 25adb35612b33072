"""Real SIP peers for the tests: baresip (moved to ``telephony.baresip``), sipp scenarios, tones."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from telephony.baresip import BARESIP as BARESIP
from telephony.baresip import Baresip as Baresip
from telephony.baresip import free_port_pair
from telephony.baresip import wait_for as wait_for

SIPP = shutil.which("sipp")
RATE = 8000


def tone(freq: float, seconds: float, amplitude: float = 0.3, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as src:
        return np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float64)


def tone_level(samples: np.ndarray, freq: float, rate: int = RATE) -> float:
    """Fraction of the signal's energy within 30 Hz of ``freq`` (1.0 = a pure tone)."""
    if len(samples) < rate // 10:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1.0 / rate)
    total = spectrum[freqs > 50].sum()
    band = spectrum[np.abs(freqs - freq) < 30].sum()
    return float(band / total) if total > 0 else 0.0


async def run_sipp(
    workdir: Path,
    scenario: str,
    target: str,
    *,
    timeout: float = 20.0,
    transport: str = "u1",
    extra: tuple[str, ...] = (),
) -> tuple[int, str]:
    """Run one sipp scenario (XML text) once against ``target``; (exit code, logs)."""
    assert SIPP is not None
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "scenario.xml"
    path.write_text(scenario)
    port = free_port_pair(39000, 39900)
    process = await asyncio.create_subprocess_exec(
        SIPP,
        target,
        "-sf",
        str(path),
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        transport,
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err",
        "-trace_msg",
        *extra,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout + 10)
    except asyncio.TimeoutError:
        process.kill()
        output, _ = await process.communicate()
    logs = [output.decode(errors="replace")[-3000:]]
    for log in sorted(workdir.glob("scenario_*_errors.log")) + sorted(
        workdir.glob("scenario_*_messages.log")
    ):
        logs.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-6000:])
    assert process.returncode is not None
    return process.returncode, "\n".join(logs)
