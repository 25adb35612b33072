"""A headless baresip SIP phone driven over its ctrl_tcp socket: a real far end for calls.

baresip (Debian 1.0.0) runs with its own config directory: ``aufile`` plays a WAV as its
microphone (``ausrc`` switches it to another WAV mid-call), ``sndfile`` records what it hears
(``dump-*-dec.wav``), ``aubridge`` is a silent player, ``ctrl_tcp`` takes JSON commands in
netstrings and reports call events. Used by ``ivr simulate --bridge sip`` and by the tests.
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
from pathlib import Path
from typing import Any

BARESIP = shutil.which("baresip")
MODULE_PATH = "/usr/lib/baresip/modules"


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
        if BARESIP is None:
            raise RuntimeError("baresip is not installed (Debian package baresip: make setup)")
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

    async def use_microphone(self, wav: Path) -> None:
        """Switch the microphone to another WAV mid-call (baresip's ausrc command)."""
        await self.command("ausrc", f"aufile,{wav}")

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
