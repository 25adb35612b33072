"""Real SIP peers for the telephony tests: baresip driven over ctrl_tcp, sipp scenarios, tones.

baresip (Debian 1.0.0) runs headless with its own config directory: ``aufile`` plays a WAV as
its microphone, ``sndfile`` records what it hears (``dump-*-dec.wav``), ``aubridge`` is a
silent player, ``ctrl_tcp`` takes JSON commands in netstrings and reports call events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

BARESIP = shutil.which("baresip")
SIPP = shutil.which("sipp")
MODULE_PATH = "/usr/lib/baresip/modules"
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


def _free(port: int, kinds: tuple[int, ...] = (socket.SOCK_DGRAM, socket.SOCK_STREAM)) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_pair(low: int = 21000, high: int = 29000) -> int:
    """An even port free on UDP and TCP whose successor is free on TCP (baresip's TLS port)."""
    for _ in range(200):
        port = random.randrange(low, high, 2)
        if _free(port) and _free(port + 1, (socket.SOCK_STREAM,)):
            return port
    raise RuntimeError("no free port pair")


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


class Baresip:
    """One headless baresip user agent on 127.0.0.1, controlled through ctrl_tcp."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        source_wav: Path,
        answermode: str = "auto",
        transport: str = "udp",
        rtp_ports: tuple[int, int] | None = None,
    ) -> None:
        self.dir = workdir / name
        self.name = name
        self.source_wav = source_wav
        self.answermode = answermode
        self.transport = transport
        if rtp_ports is None:
            base = random.randrange(30000, 38000, 200)
            rtp_ports = (base, base + 150)
        self.rtp_ports = rtp_ports
        self.sip_port = 0
        self.ctrl_port = 0
        self.events: list[dict[str, Any]] = []
        self._responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._token = 0

    @property
    def uri(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.name}@127.0.0.1:{self.sip_port}{suffix}"

    def _write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "snd").mkdir(exist_ok=True)
        config = f"""
poll_method epoll
sip_listen 127.0.0.1:{self.sip_port}
net_interface 127.0.0.1
call_local_timeout 60
call_max_calls 4
audio_player aubridge,nil{self.name}
audio_source aufile,{self.source_wav}
audio_alert aubridge,nil{self.name}
ausrc_srate 8000
auplay_srate 8000
audio_buffer 20
rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}
rtp_timeout 0
jitter_buffer_delay 1-5
module_path {MODULE_PATH}
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}
snd_path {self.dir / "snd"}
"""
        (self.dir / "config").write_text(config)
        transport = f";transport={self.transport}" if self.transport != "udp" else ""
        account = (
            f"<sip:{self.name}@127.0.0.1:{self.sip_port}{transport}>;regint=0;"
            f"answermode={self.answermode};audio_codecs=pcmu,pcma\n"
        )
        (self.dir / "accounts").write_text(account)

    async def start(self, timeout: float = 10.0) -> None:
        self.sip_port = free_port_pair()
        self.ctrl_port = free_port_pair(29000, 29900)
        self._write_config()
        log = open(self.dir / "baresip.log", "wb")  # noqa: SIM115 -- lives as long as the process
        assert BARESIP is not None
        self._process = await asyncio.create_subprocess_exec(
            BARESIP,
            "-f",
            str(self.dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if time.monotonic() > deadline or self._process.returncode is not None:
                    raise RuntimeError(f"baresip {self.name} did not start: {self.log()}") from None
                await asyncio.sleep(0.1)
        self._reader_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buffer += data
            while b":" in buffer:
                length_text, _, rest = buffer.partition(b":")
                length = int(length_text)
                if len(rest) < length + 1:
                    break
                message = json.loads(rest[:length])
                buffer = rest[length + 1 :]
                if message.get("event"):
                    self.events.append(message)
                else:
                    await self._responses.put(message)

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        assert self._writer is not None
        self._token += 1
        payload = json.dumps({"command": command, "params": params, "token": str(self._token)})
        data = payload.encode()
        self._writer.write(str(len(data)).encode() + b":" + data + b",")
        await self._writer.drain()
        return await asyncio.wait_for(self._responses.get(), timeout)

    def has_event(self, kind: str) -> bool:
        return any(e.get("type") == kind for e in self.events)

    def count_events(self, kind: str) -> int:
        return sum(1 for e in self.events if e.get("type") == kind)

    async def wait_event(self, kind: str, timeout: float = 10.0, count: int = 1) -> bool:
        return await wait_for(lambda: self.count_events(kind) >= count, timeout)

    def recordings(self, kind: str = "dec") -> list[Path]:
        return sorted((self.dir / "snd").glob(f"dump-*-{kind}.wav"))

    def log(self) -> str:
        path = self.dir / "baresip.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(line for line in text.replace("\r", "\n").splitlines() if line.strip())[
            -4000:
        ]

    async def stop(self) -> None:
        if self._process is None:
            return
        if self._process.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit", timeout=2.0)
            try:
                await asyncio.wait_for(self._process.wait(), 3.0)
            except asyncio.TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
        self._process = None


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
