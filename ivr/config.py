"""Typed configuration: dataclass defaults, then a YAML file, then IVR_* variables, then the CLI.

Precedence (lowest first): the defaults below, the YAML file (``--config``, ``$IVR_CONFIG`` or
``./ivr.yaml``), environment variables named ``IVR_<SECTION>__<KEY>`` (e.g.
``IVR_ASR__ENGINE=vosk``), and ``--set section.key=value`` / dedicated flags on the command line.
Every value is checked against its declared type, so a typo fails at start-up with the key's name.

The layers own the sections they read (``speech/settings.py``: vad, asr, tts;
``dialogue/settings.py``: dialogue, bank); this module composes them with the application's
own sections into :class:`Config` and hands each layer its sections as plain values.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from dialogue.settings import BankConfig, DialogueConfig
from speech.settings import AsrConfig, TtsConfig, VadConfig
from telephony.access import is_loopback_host, parse_networks
from telephony.sip.route import parse_outbound_proxy

ENV_PREFIX = "IVR_"
DEFAULT_CONFIG_FILE = "ivr.yaml"
QA_BRIDGES = ("inprocess", "sip", "websocket")
MAX_TEST_REPLAYS = 50
"""Recorded calls one test of the draft may replay (each is a call on the bot's engines)."""
"""Names of the QA bridges (``ivr.qa.lines.BRIDGES``), kept here so checking stays import-light."""


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass
class LoggingConfig:
    """Structured logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "console"


@dataclass
class CallConfig:
    """How the CallSession runs a call: handoff target, records, recordings, safety limits."""

    agent_uri: str = "sip:agent@127.0.0.1:5080"
    """Where a handoff sends the caller (SIP REFER target, or the bridge's equivalent)."""
    records_db: str = "sqlite:///var/calls.db"
    """Call record store: sqlite:///path or postgresql://... (calls and turns)."""
    recordings_dir: str = "var/recordings"
    """A stereo recording per call (caller left, bot right), encrypted; empty disables recording."""
    recording_key_file: str = ""
    """Owner-only file of the keys that encrypt recordings (``ivr recordings keygen``, ``rotate``).
    Unset: recording is off, never plain (the server still answers calls and says so at start:
    ``recording.off``). Refusing to start instead would take the hotline down for a review aid."""
    retention_days: int = 90
    """Recordings and call records (with their transcripts) older than this are deleted, daily by
    the server and by ``ivr recordings purge``; 0 keeps them for ever."""
    max_call_s: int = 1800
    """A call is ended politely after this long."""
    barge_in: bool = True
    """Caller speech over an interruptible bot message stops the message."""
    echo_cancel: bool = True
    """Remove the bot's own voice returning on the line before the endpointer sees it."""
    apology: str = "Sorry, we are having technical difficulties. Let me pass you to a colleague."
    """Spoken when a dependency fails mid-call (the assistant cannot speak for itself then)."""


@dataclass
class ServerConfig:
    """The running server as a whole: how it stops, and how it names itself in call records."""

    drain_s: float = 30.0
    """On SIGTERM new calls are refused (SIP 503, OPTIONS 503) while running calls go on for up
    to this long; calls still running then are apologised to and handed to an agent."""
    node_id: str = ""
    """This server's name in the call records (empty: host name and sip.port). At start it
    marks its own calls left in progress by a crash as interrupted, never another node's."""
    max_calls: int = 32
    """Calls at once over every way in together (SIP, WebSockets, AudioSocket; each also has
    its own max_calls): what the machine can serve. A call beyond it is refused before it is
    answered (SIP 503 with Retry-After, a WebSocket 503, an AudioSocket hung up)."""


@dataclass
class SipConfig:
    """The SIP/RTP bridge (RFC 3261 user agent server)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    """Bind address; a non-loopback one needs trusted_sources or digest credentials."""
    port: int = 5060
    udp: bool = True
    tcp: bool = True
    public_address: str = ""
    """Address put in SDP and Contact; empty: the address the request arrived on."""
    rtp_port_min: int = 10000
    rtp_port_max: int = 20000
    max_calls: int = 32
    """Further INVITEs are answered 486 Busy Here."""
    trusted_sources: str = ""
    """Comma-separated CIDR blocks (the trunk, the SBC) allowed to send SIP; empty: anyone.
    UDP from elsewhere is dropped unanswered, TCP answered 403."""
    digest_user: str = ""
    """With digest_password_file: INVITEs must carry digest credentials (RFC 8760, MD5 or
    SHA-256, qop=auth) for this user; unset: no digest authentication."""
    digest_password_file: str = ""
    """Owner-only file holding the digest password (never the password itself here)."""
    digest_realm: str = "bank-ivr"
    """Realm of the digest challenge; the trunk's credentials are configured for it."""
    outbound_proxy: str = ""
    """host:port of the trunk or SBC that takes the bot's in-dialog requests (BYE, REFER,
    INFO); empty: they go back where the call's INVITE came from, never where its Contact
    points (that would let a caller aim the bot's requests at any host)."""
    pike_requests: int = 500
    """Flood ban (as Kamailio's pike): a source sending more SIP messages than this within
    pike_window_s is banned; 0: no message limit. Sources in trusted_sources are exempt."""
    pike_invites: int = 50
    """As pike_requests, counting INVITEs only; 0: no INVITE limit."""
    pike_window_s: float = 2.0
    """The sampling window of pike_requests and pike_invites."""
    pike_ban_s: float = 60.0
    """How long a banned source's SIP is dropped unanswered."""
    pike_max_sources: int = 10000
    """Source addresses pike tracks at once; the least recently heard is forgotten first."""
    max_transactions: int = 4096
    """SIP server transactions held at once; a request beyond is answered 503."""
    max_dialogs: int = 256
    """Dialogs held at once (at least max_calls); an INVITE beyond is answered 503."""
    max_unconfirmed_per_source: int = 4
    """Calls one source may have ringing or answered but not yet ACKed (486 beyond): bounds
    the 2xx retransmissions a forged INVITE makes us send to its victim."""
    tcp_max_connections: int = 256
    """SIP TCP connections accepted at once; more are closed on accept."""
    tcp_max_per_source: int = 16
    """SIP TCP connections one address may hold (trusted_sources exempt)."""
    tcp_idle_s: float = 120.0
    """A SIP TCP connection that delivers no whole message for this long is closed."""
    audio_burst_s: float = 1.0
    """Caller RTP audio is taken at real time plus this much ahead (network jitter); more
    is dropped and counted, and the call goes on."""
    dtmf_per_s: float = 10.0
    """Caller keypad digits (RFC 4733 and SIP INFO together) taken per second; more drop."""


@dataclass
class HttpConfig:
    """The HTTP server: health, Prometheus metrics, media-stream WebSockets."""

    host: str = "127.0.0.1"
    """Bind address; a non-loopback one needs api_token_file (and a media-stream proof)."""
    port: int = 8080
    api_token_file: str = ""
    """Owner-only file with the bearer token /metrics and /calls/{id}/next want (header
    ``Authorization: Bearer`` or ``?token=``); unset: they are open (loopback only)."""


@dataclass
class StreamLimitsConfig:
    """What a stream transport (WebSocket, AudioSocket) allows each connection and caller."""

    max_unstarted: int = 8
    """Connections at once that have not sent their start message; more are refused."""
    max_calls_per_source: int = 4
    """Connections at once from one address while this transport has no proof configured
    (token, Twilio auth token, allow-list): one unverified peer cannot take every line."""
    connections_per_minute_per_source: float = 30.0
    """New connections such an address may open per minute (after a burst of
    max_calls_per_source): every call costs a record and a greeting, so a peer redialling in a
    loop would starve the others. More are refused before the handshake."""
    start_timeout_s: float = 10.0
    """A new connection must send its start message (Twilio start, UUID, ...) within this."""
    idle_timeout_s: float = 30.0
    """A call whose peer sends nothing for this long is closed (peers send audio constantly)."""
    audio_burst_s: float = 1.0
    """Caller audio is taken at real time plus this much ahead (network jitter); more drops."""
    dtmf_per_s: float = 10.0
    """Keypad digits taken per second; more are dropped."""
    messages_per_s: float = 500.0
    """Messages (frames) of any kind taken per second; more are dropped unparsed."""
    flood_close_s: float = 5.0
    """Dropped excess (seconds of audio, or of digits at dtmf_per_s) that closes the call."""


@dataclass
class WebSocketConfig(StreamLimitsConfig):
    """Media-stream WebSockets on the HTTP server: /media/twilio, /media/asterisk, /media/pcm."""

    enabled: bool = True
    max_message_kb: int = 64
    """Largest WebSocket message accepted; a bigger one closes the call as bad input."""
    max_calls: int = 32
    """Connections at once, started or not; more get 503 before the handshake."""
    token_file: str = ""
    """Owner-only file with the bearer token every /media/{format} upgrade must carry
    (``Authorization: Bearer`` or ``?token=``); unset with no Twilio token: open (loopback)."""
    twilio_auth_token_file: str = ""
    """Owner-only file with the Twilio account's auth token: /media/twilio and /twilio/next
    then need a valid X-Twilio-Signature."""
    public_url: str = ""
    """Base URL Twilio calls (https://ivr.bank.example) when a TLS proxy sits in front; the
    signature covers it. Empty: the scheme and Host the server sees."""


@dataclass
class AudioSocketConfig(StreamLimitsConfig):
    """Asterisk AudioSocket over TCP: one connection per call."""

    enabled: bool = True
    host: str = "127.0.0.1"
    """Bind address; a non-loopback one needs trusted_sources."""
    port: int = 9092
    max_calls: int = 32
    """Connections at once, started or not; more are closed before a byte is read."""
    start_timeout_s: float = 5.0
    """Asterisk sends the call's UUID at once; a connection without it is closed after this."""
    trusted_sources: str = ""
    """Comma-separated CIDR blocks (the Asterisk hosts) allowed to connect; empty: anyone.
    AudioSocket carries no credentials, so this is its only proof."""


@dataclass
class ConsoleConfig:
    """The web console under /console: staff log in to read calls, the audit log and users."""

    enabled: bool = True
    port: int | None = None
    """Unset: served by the HTTP server (http.host, http.port) under /console. A number: on a
    listener of its own at host:port instead (0 picks a free port)."""
    host: str = "127.0.0.1"
    """Bind address of the console's own listener (when port is set), e.g. an internal
    interface the media-stream traffic never reaches."""
    secure_cookie: bool = False
    """Mark the session cookie Secure on every response: set it when a TLS proxy sits in front.
    Requests that come over TLS get a Secure cookie anyway."""
    idle_timeout_min: float = 30.0
    """A session unused for this long is over."""
    absolute_timeout_h: float = 12.0
    """A session is over this long after its log-in, used or not."""
    max_failures_per_name: int = 5
    """Failed log-ins for one user name within failure_window_min before that name is refused
    (whether or not the user exists, so a refusal tells nothing)."""
    max_failures_per_address: int = 20
    """Failed log-ins from one client address within failure_window_min before it is refused."""
    failure_window_min: float = 15.0
    """How long a failed log-in counts against its name and address."""
    audit_retention_days: int = 365
    """Audit rows older than this are deleted, at start and daily; 0 keeps them for ever."""


@dataclass
class QaConfig:
    """QA runs: replayed and simulated calls, their reports and the simulated caller's voice."""

    scripts_dir: str = "data/qa"
    """The shipped caller scripts (``ivr simulate`` with no SCRIPT runs them all)."""
    reports_dir: str = "var/qa"
    """Each run writes results.json, report.html, its call records and recordings here."""
    bridge: str = "inprocess"
    """inprocess (the CallSession in this process), sip (baresip calling the SIP server) or
    websocket (a Twilio media stream to the server's /media/twilio)."""
    fast: bool = True
    """In-process runs on a virtual clock, faster than real time; false: real-time pacing."""
    caller_engine: Literal["piper", "espeak", "festival"] = "piper"
    """Default voice of simulated callers (a script's ``caller:`` overrides it)."""
    caller_rate: float = 1.0
    caller_snr_db: float | None = None
    """Background noise on the simulated line (signal-to-noise ratio in dB); unset: clean."""
    turn_timeout_s: float = 60.0
    """Longest wait, from the caller's last word or key, for the bot's reply to one step; a reply
    that comes later fails the step."""


@dataclass
class DesignConfig:
    """Designers' drafts and the published versions of the assistant (``ivr.versions``)."""

    dir: str = "var/design"
    """The draft, the numbered versions and which one is published. Bots that share it (a
    shared folder) all follow what is published."""
    follow_published: bool = True
    """Run the published version (and switch when another is published) instead of the
    project's own model; before anything is published the project's model runs either way.
    In-process dialogue only: remote Rasa servers load the model they are given."""
    watch_s: float = 1.0
    """How often a running bot looks for a newly published version."""
    keep_versions: int = 100
    """Versions kept on disk (about 20 MB each, mostly the model); the oldest unpublished ones
    beyond this are removed when a new one is made, so they can no longer be rolled back to."""
    test_scripts: list[str] = field(default_factory=list)
    """The QA scripts (files or folders) a test of the draft runs; empty: all of
    ``qa.scripts_dir``."""
    test_replays: int = 5
    """How many of the most recent finished, recorded calls a test of the draft replays
    against it (0: none)."""
    test_timeout_s: float = 1200.0
    """A test of the draft (validation, training, QA scripts, replays) is stopped after this."""


@dataclass
class ClusterConfig:
    """Several bot nodes behind Kamailio on one machine (``ivr cluster up``), each node on a
    loopback address of its own, sharing one PostgreSQL and one recordings folder."""

    nodes: int = 3
    """Bot nodes started (``ivr serve`` each); ``ivr cluster up --nodes`` overrides it."""
    dir: str = "var/cluster"
    """Kamailio's destination list and runtime files, the PostgreSQL data, the shared
    recordings, every process's log, and which processes ``ivr cluster down`` stops."""
    front: str = "127.0.0.1:5065"
    """Where Kamailio takes calls (UDP): the address callers dial."""
    first_node_address: str = "127.0.0.2"
    """Node 1's address (SIP, RTP, HTTP); node N takes the N-1th address after it."""
    node_sip_port: int = 5060
    node_http_port: int = 8080
    postgres_port: int = 55432
    """The cluster's PostgreSQL on 127.0.0.1 (bank and call records of every node, and the
    Rasa servers' conversations)."""
    dialogue_servers: int = 2
    """Rasa servers (``rasa run`` each, with an action router beside it) that every node
    talks to, sharing conversations through PostgreSQL and Redis: a lost one costs no call.
    0: each node runs the assistant in its own process instead."""
    first_dialogue_address: str = "127.0.0.32"
    """Rasa server 1's address; server N takes the N-1th address after it."""
    rasa_port: int = 5005
    action_router_port: int = 5055
    """Each Rasa server's action router, on the server's address."""
    redis_port: int = 56379
    """The cluster's Redis on 127.0.0.1 (the Rasa servers' locks, the nodes' call routes)."""
    lock_lifetime_s: int = 5
    """How long a conversation stays locked by a Rasa server that died in the middle of its
    turn: the turn, retried on another server, waits this long. Longer than a turn takes."""
    probe_interval_s: int = 5
    """Seconds between Kamailio's OPTIONS probes of each node."""
    probe_failures: int = 2
    """Failed probes before a node is taken out of the set (and good ones to take it back)."""
    kamailio_config: str = "deploy/kamailio/kamailio.cfg"
    """The Kamailio configuration the front runs (relative to the project folder)."""


@dataclass
class Config:
    """The whole configuration of the bot."""

    vad: VadConfig = field(default_factory=VadConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    call: CallConfig = field(default_factory=CallConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    audiosocket: AudioSocketConfig = field(default_factory=AudioSocketConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    qa: QaConfig = field(default_factory=QaConfig)
    design: DesignConfig = field(default_factory=DesignConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """The effective configuration: defaults, file, environment, then ``key=value`` overrides."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file_path = _config_file(path, environ)
    if file_path is not None:
        data = _read_yaml(file_path)
    for dotted, raw in _env_overrides(environ):
        _set_dotted(data, dotted, yaml.safe_load(raw) if raw else raw)
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        _set_dotted(data, dotted.strip(), yaml.safe_load(raw) if raw else raw)
    config = _build(Config, data, "")
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    if config.vad.frame_ms not in (10, 20, 30):
        raise ConfigError("vad.frame_ms must be 10, 20 or 30 (webrtcvad frame sizes)")
    if not 0 <= config.vad.aggressiveness <= 3:
        raise ConfigError("vad.aggressiveness must be between 0 and 3")
    for name in ("speech_start_ms", "end_of_speech_ms", "max_utterance_ms", "no_input_ms"):
        if getattr(config.vad, name) <= 0:
            raise ConfigError(f"vad.{name} must be positive")
    if config.asr.engine == "vosk" and not config.asr.vosk_model:
        raise ConfigError("asr.engine is vosk but asr.vosk_model is not set")
    check_cluster(config.cluster)
    if config.design.watch_s <= 0:
        raise ConfigError("design.watch_s must be positive")
    if config.design.keep_versions < 2:
        raise ConfigError("design.keep_versions must be at least 2 (one to roll back to)")
    if not 0 <= config.design.test_replays <= MAX_TEST_REPLAYS:
        raise ConfigError(f"design.test_replays must be between 0 and {MAX_TEST_REPLAYS}")
    if config.design.test_timeout_s <= 0:
        raise ConfigError("design.test_timeout_s must be positive")
    if config.asr.max_audio_s <= 0:
        raise ConfigError("asr.max_audio_s must be positive")
    if config.asr.max_concurrent < 1:
        raise ConfigError("asr.max_concurrent must be at least 1")
    if config.asr.speculate_after_ms < 0:
        raise ConfigError("asr.speculate_after_ms must be 0 (off) or positive")
    if config.vad.early_end_ms < 0:
        raise ConfigError("vad.early_end_ms must be 0 (off) or positive")
    if config.asr.whisper_beam_size < 1:
        raise ConfigError("asr.whisper_beam_size must be at least 1")
    for key in ("vosk_model", "whisper_model"):
        value = getattr(config.asr, key)
        if value and not Path(value).is_dir():
            raise ConfigError(f"asr.{key}: model directory {value!r} does not exist")
    if config.tts.piper_model and not Path(config.tts.piper_model).is_file():
        raise ConfigError(f"tts.piper_model: voice file {config.tts.piper_model!r} does not exist")
    if not 0.25 <= config.tts.speaking_rate <= 4.0:
        raise ConfigError("tts.speaking_rate must be between 0.25 and 4.0")
    if config.tts.cache_max_mb < 0:
        raise ConfigError("tts.cache_max_mb must be 0 (no bound) or positive")
    if config.tts.piper_threads < 0:
        raise ConfigError("tts.piper_threads must be 0 (all cores) or positive")
    if not config.bank.database.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("bank.database must start with sqlite:/// or postgresql://")
    if config.bank.transfer_limit_cents <= 0:
        raise ConfigError("bank.transfer_limit_cents must be positive")
    if config.bank.max_pin_attempts < 1:
        raise ConfigError("bank.max_pin_attempts must be at least 1")
    if config.bank.max_pin_failures < 1:
        raise ConfigError("bank.max_pin_failures must be at least 1")
    if config.bank.lockout_window_h <= 0:
        raise ConfigError("bank.lockout_window_h must be positive")
    if config.bank.lockout_minutes < 0:
        raise ConfigError("bank.lockout_minutes must be 0 (until unlocked) or positive")
    if config.bank.max_verifications_per_hour < 1:
        raise ConfigError("bank.max_verifications_per_hour must be at least 1")
    if not config.bank.pin_pepper_file:
        raise ConfigError("bank.pin_pepper_file must name the PIN pepper's file")
    if not config.dialogue.model_name or "/" in config.dialogue.model_name:
        raise ConfigError("dialogue.model_name must be a plain file name without '/'")
    if config.dialogue.secret_ttl_s <= 0:
        raise ConfigError("dialogue.secret_ttl_s must be positive")
    if config.dialogue.route_ttl_s <= config.call.max_call_s:
        raise ConfigError(
            "dialogue.route_ttl_s must be longer than call.max_call_s (a route outlives its call)"
        )
    if config.dialogue.routes_url and not config.dialogue.routes_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("dialogue.routes_url must start with redis://, rediss:// or unix://")
    if config.dialogue.routes_url and config.dialogue.action_server_host in ("0.0.0.0", "::", ""):
        # The node's routes name this address: the routers must be able to reach it.
        raise ConfigError(
            "dialogue.action_server_host must be this node's own address when "
            "dialogue.routes_url is set (the action routers send its calls there)"
        )
    if config.dialogue.mode == "http":
        for key in ("action_token_file", "rasa_token_file"):
            if not getattr(config.dialogue, key):
                raise ConfigError(
                    f"dialogue.{key} must name a secret file when dialogue.mode is http"
                )
    if not config.call.records_db.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("call.records_db must start with sqlite:/// or postgresql://")
    if config.call.retention_days < 0:
        raise ConfigError("call.retention_days must be 0 (keep for ever) or positive")
    if config.server.drain_s < 0:
        raise ConfigError("server.drain_s must be 0 (end calls at once) or positive")
    if len(config.server.node_id) > 200:
        raise ConfigError("server.node_id must be at most 200 characters")
    if config.server.max_calls < 1:
        raise ConfigError("server.max_calls must be at least 1")
    for section, port in (("sip.port", config.sip.port), ("http.port", config.http.port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{section} must be a port number (0-65535)")
    if not 0 <= config.audiosocket.port <= 65535:
        raise ConfigError("audiosocket.port must be a port number (0-65535)")
    if config.websocket.max_message_kb < 1:
        raise ConfigError("websocket.max_message_kb must be at least 1")
    if config.websocket.max_calls < 1 or config.audiosocket.max_calls < 1:
        raise ConfigError("websocket.max_calls and audiosocket.max_calls must be >= 1")
    for name, limits in (("websocket", config.websocket), ("audiosocket", config.audiosocket)):
        check_stream_limits(name, limits)
    if not 1024 <= config.sip.rtp_port_min < config.sip.rtp_port_max <= 65535:
        raise ConfigError("sip.rtp_port_min/max must be a range within 1024-65535")
    if config.qa.bridge not in QA_BRIDGES:
        raise ConfigError(f"qa.bridge must be one of {', '.join(QA_BRIDGES)}")
    if not 0.5 <= config.qa.caller_rate <= 2.0 or config.qa.turn_timeout_s <= 0:
        raise ConfigError("qa.caller_rate must be 0.5-2.0 and qa.turn_timeout_s positive")
    if config.sip.max_calls < 1 or config.call.max_call_s < 10:
        raise ConfigError("sip.max_calls must be >= 1 and call.max_call_s >= 10")
    check_sip_limits(config.sip)
    check_console(config.console)
    check_ways_in(config)


MAX_CLUSTER_NODES = 32
"""Nodes ``ivr cluster up`` starts at most: each holds its own engines and assistant."""


def check_cluster(cluster: ClusterConfig) -> None:
    if not 1 <= cluster.nodes <= MAX_CLUSTER_NODES:
        raise ConfigError(f"cluster.nodes must be between 1 and {MAX_CLUSTER_NODES}")
    cluster_front(cluster)
    first = _loopback("cluster.first_node_address", cluster.first_node_address)
    if int(first) % 256 + cluster.nodes > 255:
        raise ConfigError("cluster.first_node_address leaves no room for cluster.nodes nodes")
    if not 0 <= cluster.dialogue_servers <= MAX_CLUSTER_NODES:
        raise ConfigError(f"cluster.dialogue_servers must be between 0 and {MAX_CLUSTER_NODES}")
    dialogue = _loopback("cluster.first_dialogue_address", cluster.first_dialogue_address)
    if int(dialogue) % 256 + cluster.dialogue_servers > 255:
        raise ConfigError("cluster.first_dialogue_address leaves no room for its servers")
    nodes = {int(first) + n for n in range(cluster.nodes)}
    if nodes & {int(dialogue) + n for n in range(cluster.dialogue_servers)}:
        raise ConfigError("cluster.first_dialogue_address: Rasa servers and nodes overlap")
    ports = ("node_sip_port", "node_http_port", "postgres_port", "rasa_port")
    for key in (*ports, "action_router_port", "redis_port"):
        if not 1 <= getattr(cluster, key) <= 65535:
            raise ConfigError(f"cluster.{key} must be a port number")
    if cluster.rasa_port == cluster.action_router_port:
        raise ConfigError("cluster.rasa_port and cluster.action_router_port must differ")
    if not 1 <= cluster.lock_lifetime_s <= 300:
        raise ConfigError("cluster.lock_lifetime_s must be between 1 and 300")
    if not 1 <= cluster.probe_interval_s <= 300:
        raise ConfigError("cluster.probe_interval_s must be between 1 and 300")
    if not 1 <= cluster.probe_failures <= 10:
        raise ConfigError("cluster.probe_failures must be between 1 and 10")


def cluster_front(cluster: ClusterConfig) -> tuple[str, int]:
    """``cluster.front`` as (address, port)."""
    host, _, port = cluster.front.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"cluster.front must be ADDRESS:PORT, not {cluster.front!r}")
    return str(_loopback("cluster.front", host)), int(port)


def _loopback(key: str, text: str) -> ipaddress.IPv4Address:
    """A loopback IPv4 address: the cluster command runs every part on one machine."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise ConfigError(f"{key} must be an IPv4 address, not {text!r}") from None
    if not address.is_loopback:
        raise ConfigError(f"{key} must be a loopback address (127.x.y.z): one machine only")
    return address


def check_console(console: ConsoleConfig) -> None:
    """The console's listener, session lifetimes and log-in limits are usable."""
    if console.port is not None and not 0 <= console.port <= 65535:
        raise ConfigError("console.port must be a port number (0-65535) or unset")
    for key in ("idle_timeout_min", "absolute_timeout_h", "failure_window_min"):
        if not getattr(console, key) > 0:
            raise ConfigError(f"console.{key} must be positive")
    if console.idle_timeout_min > console.absolute_timeout_h * 60:
        raise ConfigError("console.idle_timeout_min must not exceed console.absolute_timeout_h")
    for key in ("max_failures_per_name", "max_failures_per_address"):
        if getattr(console, key) < 1:
            raise ConfigError(f"console.{key} must be at least 1")
    if console.audit_retention_days < 0:
        raise ConfigError("console.audit_retention_days must be 0 (keep for ever) or positive")


def check_sip_limits(sip: SipConfig) -> None:
    """The SIP flood and table limits are usable numbers."""
    for key in ("pike_requests", "pike_invites"):
        if getattr(sip, key) < 0:
            raise ConfigError(f"sip.{key} must be 0 (off) or positive")
    for key in ("pike_window_s", "pike_ban_s", "tcp_idle_s", "audio_burst_s", "dtmf_per_s"):
        if not getattr(sip, key) > 0:
            raise ConfigError(f"sip.{key} must be positive")
    for key in (
        "pike_max_sources",
        "max_transactions",
        "max_unconfirmed_per_source",
        "tcp_max_connections",
        "tcp_max_per_source",
    ):
        if getattr(sip, key) < 1:
            raise ConfigError(f"sip.{key} must be at least 1")
    if sip.max_dialogs < sip.max_calls:
        raise ConfigError(f"sip.max_dialogs must be at least sip.max_calls ({sip.max_calls})")


def check_stream_limits(name: str, limits: StreamLimitsConfig) -> None:
    """A stream transport's limits are usable: each error names its key."""
    if limits.max_unstarted < 1:
        raise ConfigError(f"{name}.max_unstarted must be >= 1")
    if limits.max_calls_per_source < 1:
        raise ConfigError(f"{name}.max_calls_per_source must be >= 1")
    if limits.connections_per_minute_per_source <= 0:
        raise ConfigError(f"{name}.connections_per_minute_per_source must be positive")
    for key in ("start_timeout_s", "idle_timeout_s", "flood_close_s"):
        if not getattr(limits, key) > 0:
            raise ConfigError(f"{name}.{key} must be positive")
    if not limits.audio_burst_s >= 0.1:
        raise ConfigError(f"{name}.audio_burst_s must be at least 0.1 (network jitter)")
    for key in ("dtmf_per_s", "messages_per_s"):
        if not getattr(limits, key) >= 1:
            raise ConfigError(f"{name}.{key} must be at least 1")


def check_ways_in(config: Config) -> None:
    """Each way in's proof is well-formed, and none listens publicly without one.

    Secret files are named here and read when the server starts (``ivr.secretfile``), so
    ``ivr config`` works on a machine without them.
    """
    for key, text in (
        ("sip.trusted_sources", config.sip.trusted_sources),
        ("audiosocket.trusted_sources", config.audiosocket.trusted_sources),
    ):
        try:
            parse_networks(text)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    sip = config.sip
    if bool(sip.digest_user) != bool(sip.digest_password_file):
        raise ConfigError("sip.digest_user and sip.digest_password_file are set together")
    if sip.digest_user and not sip.digest_realm:
        raise ConfigError("sip.digest_realm must not be empty when sip.digest_user is set")
    if sip.outbound_proxy:
        try:
            parse_outbound_proxy(sip.outbound_proxy)
        except ValueError as exc:
            raise ConfigError(f"sip.outbound_proxy must be host:port: {exc}") from None
    public_url = config.websocket.public_url
    if public_url and not public_url.startswith(("https://", "http://", "wss://", "ws://")):
        raise ConfigError("websocket.public_url must start with https:// (or http://, wss://)")
    binds = [
        (
            "sip.host",
            sip.host,
            sip.enabled,
            bool(sip.trusted_sources or sip.digest_user),
            "sip.trusted_sources or sip.digest_user/digest_password_file",
        ),
        (
            "http.host",
            config.http.host,
            True,
            bool(config.http.api_token_file),
            "http.api_token_file (for /metrics and /calls/{id}/next)",
        ),
        (
            "http.host",
            config.http.host,
            config.websocket.enabled,
            bool(config.websocket.token_file or config.websocket.twilio_auth_token_file),
            "websocket.token_file or websocket.twilio_auth_token_file",
        ),
        (
            "audiosocket.host",
            config.audiosocket.host,
            config.audiosocket.enabled,
            bool(config.audiosocket.trusted_sources),
            "audiosocket.trusted_sources",
        ),
    ]
    for key, host, enabled, proven, settings in binds:
        if enabled and not proven and not is_loopback_host(host):
            raise ConfigError(
                f"{key}: {host!r} is reachable from other machines but no caller proof is "
                f"configured; set {settings}, or bind 127.0.0.1"
            )


def _config_file(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError(f"config file {str(chosen)!r} does not exist")
        return chosen
    if environ.get("IVR_CONFIG"):
        return _config_file(environ["IVR_CONFIG"], {})
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return loaded


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    found = []
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            section, _, key = name[len(ENV_PREFIX) :].partition("__")
            found.append((f"{section.lower()}.{key.lower()}", value))
    return sorted(found)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"setting {dotted!r} must be section.key (e.g. asr.engine)")
    section = data.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"section {parts[0]!r} must be a mapping")
    section[parts[1]] = value


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting {_join(where, unknown[0])!r}; known keys: {', '.join(sorted(known))}"
        )
    values = {name: _coerce(hints[name], value, _join(where, name)) for name, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: must be one of {', '.join(allowed)} (got {value!r})")
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(args[0], value, where)
    if origin is list:
        if isinstance(value, str):  # from the environment or --set: comma-separated
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list (got {value!r})")
        (item,) = typing.get_args(hint)
        return [_coerce(item, each, f"{where}[{index}]") for index, each in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false (got {value!r})")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a whole number (got {value!r})")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number (got {value!r})")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected text (got {value!r})")
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
