"""Configuration: defaults, YAML file, environment and CLI overrides, and clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dialogue.client import DialogueError
from ivr.cli import main
from ivr.config import Config, ConfigError, load_config


def test_defaults_are_embedded_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.asr.engine == "auto" and config.asr.vosk_model is None
    assert config.tts.engine == "piper"


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text("tts:\n  engine: pyttsx3\n  speaking_rate: 1.1\nvad:\n  no_input_ms: 4000\n")
    env = {"IVR_VAD__NO_INPUT_MS": "5000", "IVR_TTS__SPEAKING_RATE": "1.3"}
    config = load_config(path, overrides=["vad.no_input_ms=7000"], environ=env)
    assert config.tts.engine == "pyttsx3"
    assert config.tts.speaking_rate == pytest.approx(1.3)
    assert config.vad.no_input_ms == 7000


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("asr.engine=kaldi", "asr.engine: must be one of auto, whisper, vosk"),
        ("asr.engine=vosk", "vosk_model is not set"),
        ("asr.vosk_model=/nowhere/model", "does not exist"),
        ("audio.call_rate=16000", "unknown setting 'audio'"),
        ("vad.frame_ms=25", "10, 20 or 30"),
        ("vad.no_input_ms=soon", "expected a whole number"),
        ("vad.early_end_ms=-1", "early_end_ms must be 0"),
        ("tts.volume=3", "unknown setting 'tts.volume'"),
        ("bank.database=mysql://x", "sqlite"),
        ("engine=piper", "section.key"),
        ("dialogue.mode=http", "dialogue.action_token_file must name a secret file"),
        ("sip.outbound_proxy=sbc.example:port", "sip.outbound_proxy must be host:port"),
        ("sip.outbound_proxy=user@sbc.example", "sip.outbound_proxy must be host:port"),
        ("sip.pike_invites=-1", "sip.pike_invites must be 0"),
        ("sip.pike_ban_s=0", "sip.pike_ban_s must be positive"),
        ("sip.tcp_max_per_source=0", "sip.tcp_max_per_source must be at least 1"),
        ("sip.audio_burst_s=0", "sip.audio_burst_s must be positive"),
        ("sip.dtmf_per_s=-1", "sip.dtmf_per_s must be positive"),
        ("sip.max_dialogs=4", "sip.max_dialogs must be at least sip.max_calls"),
        ("websocket.start_timeout_s=0", "websocket.start_timeout_s must be positive"),
        ("audiosocket.dtmf_per_s=0.5", "audiosocket.dtmf_per_s must be at least 1"),
        ("websocket.max_unstarted=0", "websocket.max_unstarted must be >= 1"),
        ("console.port=70000", "console.port must be a port number"),
        ("console.idle_timeout_min=0", "console.idle_timeout_min must be positive"),
        ("console.idle_timeout_min=800", "must not exceed console.absolute_timeout_h"),
        ("console.max_failures_per_address=0", "console.max_failures_per_address must be at"),
        ("console.audit_retention_days=-1", "console.audit_retention_days must be 0"),
        ("console.secure_cookie=maybe", "console.secure_cookie: expected true or false"),
    ],
)
def test_bad_settings_are_named_in_the_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", "'")):
        load_config(overrides=[override], environ={})


def test_malformed_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("asr: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, environ={})


def test_cli_reports_configuration_errors_without_a_traceback() -> None:
    result = CliRunner().invoke(main, ["--set", "asr.engine=nope", "config"])
    assert result.exit_code == 2
    assert "asr.engine: must be one of" in result.output


def test_shipped_ivr_yaml_lists_every_setting_at_its_default() -> None:
    """ivr.yaml is the designers' reference: uncommented, it must equal the typed defaults."""
    template = Path(__file__).resolve().parent.parent / "ivr.yaml"
    lines = template.read_text().splitlines()
    settings = lines[len(lines) - lines[::-1].index("#") :]  # after the header
    uncommented = "\n".join(line.removeprefix("# ") for line in settings)
    assert yaml.safe_load(uncommented) == Config().as_dict()
    assert load_config(template, environ={}) == Config()


def test_http_dialogue_takes_both_tokens_from_owner_only_files(tmp_path: Path) -> None:
    from dialogue.client import HttpClient
    from ivr.secretfile import write_secret
    from ivr.services import dialogue_client

    with pytest.raises(ConfigError, match=r"dialogue\.rasa_token_file must name"):
        load_config(overrides=["dialogue.mode=http", "dialogue.action_token_file=x"], environ={})
    action = write_secret(tmp_path / "action-token", "action-secret")
    rasa = tmp_path / "rasa-token"
    rasa.write_text("rasa-secret")
    rasa.chmod(0o644)
    config = load_config(
        overrides=[
            "dialogue.mode=http",
            f"dialogue.action_token_file={action}",
            f"dialogue.rasa_token_file={rasa}",
        ],
        environ={},
    )
    with pytest.raises(ConfigError, match=r"dialogue\.rasa_token_file: .* other users"):
        dialogue_client(config)
    rasa.chmod(0o600)
    client = dialogue_client(config)
    assert isinstance(client, HttpClient)
    assert client.action_server is not None and client.action_server.token == "action-secret"


async def test_http_dialogue_serves_actions_where_configured_and_gives_rasa_its_timeout(
    tmp_path: Path,
) -> None:
    """A Rasa at ``dialogue.server_urls`` that accepts and never answers: the client gives up
    after ``dialogue.request_timeout_s``, its action server listening meanwhile at
    ``dialogue.action_server_host``:``action_server_port``."""
    from ivr.secretfile import write_secret
    from ivr.services import dialogue_client

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; the peer gives up first

    rasa = await asyncio.start_server(stall, "127.0.0.1", 0)
    rasa_port = rasa.sockets[0].getsockname()[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        actions_port = probe.getsockname()[1]
    settings = [
        "dialogue.mode=http",
        f"dialogue.server_urls=http://127.0.0.1:{rasa_port}",
        "dialogue.request_timeout_s=1",
        "dialogue.action_server_host=127.0.0.1",
        f"dialogue.action_server_port={actions_port}",
        f"dialogue.action_token_file={write_secret(tmp_path / 'action', 'a')}",
        f"dialogue.rasa_token_file={write_secret(tmp_path / 'rasa', 'r')}",
        f"bank.database=sqlite:///{tmp_path / 'bank.db'}",
    ]
    client = dialogue_client(load_config(overrides=settings, environ={}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    starting = asyncio.create_task(client.start())
    try:
        while not starting.done():
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", actions_port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the action server never listened on its configured port")
        # The probe's timeout surfaces as TimeoutError today, not DialogueError (reported).
        with pytest.raises((DialogueError, asyncio.TimeoutError)):
            await starting
    finally:
        rasa.close()
        await client.close()
    assert 1 <= loop.time() - started < 5


def test_every_way_in_listens_on_loopback_by_default() -> None:
    config = Config()
    assert (config.sip.host, config.http.host, config.audiosocket.host) == ("127.0.0.1",) * 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["sip.host=0.0.0.0"], "sip.host: '0.0.0.0' .* set sip.trusted_sources or sip.digest"),
        (["http.host=192.0.2.10"], "http.host: .* set http.api_token_file"),
        (
            ["http.host=192.0.2.10", "http.api_token_file=/run/ivr/api"],
            "http.host: .* set websocket.token_file or websocket.twilio_auth_token_file",
        ),
        (["audiosocket.host=10.0.0.5"], "audiosocket.host: .* set audiosocket.trusted_sources"),
        (["sip.trusted_sources=10.0.0.1/8"], "sip.trusted_sources: '10.0.0.1/8' is not"),
        (["audiosocket.trusted_sources=asterisk"], "audiosocket.trusted_sources: 'asterisk'"),
        (["sip.digest_user=trunk"], "sip.digest_user and sip.digest_password_file"),
        (["websocket.public_url=ivr.bank.example"], "websocket.public_url must start"),
    ],
)
def test_a_public_bind_without_its_proof_is_refused_naming_the_setting(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides, environ={})


def test_a_public_bind_with_its_proof_is_accepted() -> None:
    config = load_config(
        overrides=[
            "sip.host=0.0.0.0",
            "sip.trusted_sources=203.0.113.0/24, 2001:db8::/32",
            "http.host=0.0.0.0",
            "http.api_token_file=/run/ivr/api-token",
            "websocket.twilio_auth_token_file=/run/ivr/twilio-auth-token",
            "audiosocket.host=0.0.0.0",
            "audiosocket.trusted_sources=10.0.0.5",
        ],
        environ={},
    )
    assert config.sip.trusted_sources.startswith("203.0.113.0/24")


def test_every_sip_limit_setting_reaches_the_sip_server() -> None:
    from ivr.server import sip_limits

    config = load_config(
        overrides=[
            "sip.pike_invites=7",
            "sip.tcp_idle_s=9.5",
            "sip.max_dialogs=300",
            "sip.audio_burst_s=0.5",
            "sip.dtmf_per_s=4",
        ],
        environ={},
    )
    limits = sip_limits(config.sip)
    assert (limits.pike_invites, limits.tcp_idle_s, limits.max_dialogs) == (7, 9.5, 300)
    assert (limits.audio_burst_s, limits.dtmf_per_s) == (0.5, 4)


@pytest.mark.parametrize("section", ["websocket", "audiosocket"])
def test_every_stream_limit_setting_reaches_its_transport(section: str) -> None:
    from ivr.server import stream_limits

    values = {
        "max_calls": 5,
        "max_unstarted": 3,
        "max_calls_per_source": 2,
        "connections_per_minute_per_source": 7.0,
        "start_timeout_s": 1.5,
        "idle_timeout_s": 4.5,
        "audio_burst_s": 0.5,
        "dtmf_per_s": 3.0,
        "messages_per_s": 60.0,
        "flood_close_s": 2.5,
    }
    overrides = [f"{section}.{key}={value}" for key, value in values.items()]
    limits = stream_limits(getattr(load_config(overrides=overrides, environ={}), section))
    got = {**dataclasses.asdict(limits), **dataclasses.asdict(limits.input_rate)}
    assert {key: got[key] for key in values} == values
