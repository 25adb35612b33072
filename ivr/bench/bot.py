"""The bot under test as a separate process: ``ivr serve`` (and, for HTTP dialogue, ``rasa run``).

Running the bot in its own process keeps its CPU time and memory apart from the load
generator's (read with psutil) and exercises exactly what ships: the CLI, the configuration,
the SIP server. Each bot gets free ports and its own databases in the bench's work folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from dialogue import quiet_rasa_environment
from ivr.cluster.rasa import RasaRun
from ivr.readiness import wait_http
from ivr.recording_keys import create_key_file
from ivr.secretfile import new_token, write_secret

READY_TIMEOUT_S = 300.0
"""Longest wait for a bot to load its engines and the assistant (on a busy 2-core machine)."""
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def _tool(name: str) -> str:
    """A console script of this virtualenv (``ivr``, ``rasa``)."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Usage:
    """CPU and memory a process used over a window."""

    cpu_percent: float
    """CPU time over wall time, in percent of one core."""
    rss_mb: float
    """Largest resident set size seen."""


class UsageMeter:
    """Samples a process's CPU time and RSS, with ``children`` its child processes' too (the
    bot's speech recognition workers); ``usage`` covers the time since ``start``."""

    def __init__(self, pid: int, children: bool = True) -> None:
        self._process = psutil.Process(pid)
        self._children = children
        self._cpu0 = 0.0
        self._wall0 = 0.0
        self._rss_peak = 0

    def _family(self) -> list[psutil.Process]:
        if not self._children:
            return [self._process]
        return [self._process, *self._process.children(recursive=True)]

    def _cpu(self) -> float:
        total = 0.0
        for process in self._family():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def _rss(self) -> int:
        total = 0
        for process in self._family():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def start(self) -> None:
        self._cpu0, self._wall0 = self._cpu(), time.monotonic()
        self._rss_peak = self._rss()

    def sample(self) -> None:
        self._rss_peak = max(self._rss_peak, self._rss())

    def usage(self) -> Usage:
        self.sample()
        wall = max(time.monotonic() - self._wall0, 1e-6)
        return Usage(
            cpu_percent=round((self._cpu() - self._cpu0) / wall * 100, 1),
            rss_mb=round(self._rss_peak / 2**20, 1),
        )


class MachineMeter(UsageMeter):
    """As UsageMeter, for the whole machine: busy CPU time of every core (in percent of one
    core, as a process's) and memory in use. For bots this bench did not start (``--target``),
    whose processes it cannot name."""

    def __init__(self) -> None:
        super().__init__(os.getpid())

    def _cpu(self) -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def _rss(self) -> int:
        return int(psutil.virtual_memory().used)


@dataclass
class Footprint:
    """What a process holds right now: open file descriptors (sockets included) and memory."""

    open_files: int
    rss_mb: float

    @classmethod
    def of(cls, pid: int) -> Footprint:
        process = psutil.Process(pid)
        return cls(process.num_fds(), round(process.memory_info().rss / 2**20, 1))


class Subprocess:
    """A long-running child with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited; last output:\n{tail}")

    async def wait_http(self, url: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll ``url`` until it answers 200 (raises if the process dies or time runs out)."""
        await wait_http(url, self.check_alive, timeout, self.name, self.log_path)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


class BotEndpoint:
    """One bot's addresses and stores: free SIP and HTTP ports, its own databases."""

    def __init__(self, name: str, workdir: Path, overrides: list[str]) -> None:
        self.name = name
        self.sip_port = free_port()
        self.http_port = free_port()
        self.records_db = workdir / f"{name}-calls.db"
        key_file = workdir / f"{name}-recording.keys"
        if not key_file.exists():
            create_key_file(key_file)  # bots record as in production: sealed
        self.settings = [
            "sip.host=127.0.0.1",
            "sip.public_address=127.0.0.1",
            f"sip.port={self.sip_port}",
            "sip.tcp=false",
            "http.host=127.0.0.1",
            f"http.port={self.http_port}",
            "audiosocket.host=127.0.0.1",
            "audiosocket.port=0",  # unused here; a fixed port would clash between bots
            f"bank.database=sqlite:///{workdir}/{name}-bank.db",
            f"call.records_db=sqlite:///{self.records_db}",
            f"call.recordings_dir={workdir}/{name}-recordings",
            f"call.recording_key_file={key_file}",
            "logging.level=WARNING",
            *overrides,
        ]
        self.pid = 0
        """The process serving this bot (set when it is spawned)."""

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/healthz"

    async def counters(self) -> dict[str, float]:
        """Every transport counter (``sip.calls_rejected``, ``websocket.bad_input_closed``, ...)
        and event count (``event.error.tts``) from /metrics, by a flat name."""
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{self.http_port}/metrics") as response,
        ):
            text = await response.text()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if family.name == "ivr_transport":
                    out[f"{labels['transport']}.{labels['name']}"] = sample.value
                elif sample.name == "ivr_events_total":
                    out[".".join(("event", labels["event"], labels["kind"])).rstrip(".")] = (
                        sample.value
                    )
        return out


class BotProcess(Subprocess):
    """``ivr serve`` for one bot: the one whose CPU time and memory per call are measured."""

    def __init__(self, name: str, workdir: Path, overrides: list[str]) -> None:
        self.bot = BotEndpoint(name, workdir, overrides)
        argv = [_tool("ivr"), *[a for s in self.bot.settings for a in ("--set", s)], "serve"]
        super().__init__(f"bot {name}", argv, workdir / f"{name}.log")

    async def start(self) -> None:
        self.spawn()
        self.bot.pid = self.pid
        await self.wait_http(self.bot.health_url)


class VariantHost(Subprocess):
    """Several bots in one process sharing one loaded assistant (:mod:`ivr.bench.host`).

    Loading Rasa dominates a bot's start-up; the engine variants only need their latency
    measured, so they share a process and its in-process assistant instead of each loading it.
    """

    def __init__(self, workdir: Path, variants: dict[str, list[str]]) -> None:
        self.bots = {
            name: BotEndpoint(f"variant{i}", workdir, overrides)
            for i, (name, overrides) in enumerate(variants.items())
        }
        spec = workdir / "variants.json"
        spec.write_text(json.dumps([bot.settings for bot in self.bots.values()]))
        argv = [sys.executable, "-m", "ivr.bench.host", str(spec)]
        super().__init__("variant bots", argv, workdir / "variants.log")

    async def start(self) -> None:
        self.spawn()
        for bot in self.bots.values():
            bot.pid = self.pid
            await self.wait_http(bot.health_url)


class RasaServer(Subprocess):
    """``rasa run`` with the trained model, its actions served by a bot process; both ends'
    secrets are made here and written owner-only for that bot."""

    def __init__(self, workdir: Path, model: Path, action_port: int, port: int) -> None:
        self.port = port
        self.action_port = action_port
        action_token, rasa_token = new_token(), new_token()
        self.action_token_file = write_secret(workdir / "action-token", action_token)
        self.rasa_token_file = write_secret(workdir / "rasa-token", rasa_token)
        run = RasaRun(
            folder=workdir / "rasa",
            model=model,
            interface="127.0.0.1",
            port=port,
            rasa_token=rasa_token,
            action_url=f"http://127.0.0.1:{action_port}/webhook",
            action_token=action_token,
        )
        super().__init__("rasa server", run.argv(), workdir / "rasa-server.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_settings(self) -> list[str]:
        """The ``--set`` settings of a bot whose dialogue is this server."""
        return [
            "dialogue.mode=http",
            f"dialogue.server_urls={self.url}",
            f"dialogue.action_server_port={self.action_port}",
            f"dialogue.action_token_file={self.action_token_file}",
            f"dialogue.rasa_token_file={self.rasa_token_file}",
        ]

    async def start(self) -> None:
        quiet_rasa_environment()
        self.spawn()
        await self.wait_http(f"{self.url}/")
