"""The HTTP endpoints' proofs: API token on /metrics and /calls/{id}/next, Twilio's signature
on /twilio/next, an open /healthz that tells nothing, refusals counted in /metrics; and the
secret files behind them, checked before the server binds anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.config import ConfigError, load_config
from ivr.http import HttpProof, build_app
from ivr.metrics import Metrics
from ivr.platform import platform_routes
from ivr.server import BotServer
from telephony.handoff import HandoffBoard
from telephony.websocket.signature import SIGNATURE_HEADER, twilio_signature

API_TOKEN = "api-token-for-tests"
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_URL = "https://ivr.bank.example"
FORM = {"CallSid": "CA123", "From": "+15550001234", "AccountSid": "AC" + "0" * 32}


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, HttpProof]]:
    board = HandoffBoard()
    board.post("CA123", "sip:agents@bank.example", "caller_request")
    proof = HttpProof(API_TOKEN, TWILIO_AUTH_TOKEN, PUBLIC_URL)
    metrics = Metrics()
    app = build_app(
        metrics,
        lambda: {"sip": {"calls_offered": 7}, "http": proof.stats()},
        [platform_routes(board, proof)],
        proof,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client, proof


async def test_metrics_and_next_step_want_the_api_token(
    client: tuple[TestClient, HttpProof],
) -> None:
    http, proof = client
    for path in ("/metrics", "/calls/CA123/next"):
        assert (await http.get(path)).status == 401
        assert (await http.get(path, headers={"Authorization": "Bearer guess"})).status == 401
        assert (await http.get(path, params={"token": "guess"})).status == 401
    refused = await http.get("/metrics")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert API_TOKEN not in await refused.text()

    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    step = await http.get("/calls/CA123/next", params={"format": "text", "token": API_TOKEN})
    assert step.status == 200 and await step.text() == "agent"
    metrics = await http.get("/metrics", headers=bearer)
    assert metrics.status == 200
    text = await metrics.text()
    assert 'ivr_transport{name="refused_bad_token",transport="http"} 7.0' in text
    assert 'ivr_transport{name="calls_offered",transport="sip"} 7.0' in text
    assert proof.stats()["refused_bad_signature"] == 0


async def test_healthz_is_open_and_tells_only_that_the_server_is_up(
    client: tuple[TestClient, HttpProof],
) -> None:
    http, _ = client
    health = await http.get("/healthz")
    assert health.status == 200 and await health.json() == {"status": "ok"}


async def test_twilio_next_wants_the_signature_over_the_public_url_and_form(
    client: tuple[TestClient, HttpProof],
) -> None:
    http, proof = client
    url = f"{PUBLIC_URL}/twilio/next"
    good = twilio_signature(TWILIO_AUTH_TOKEN, url, FORM.items())
    tampered = {**FORM, "CallSid": "CA999"}
    assert (await http.post("/twilio/next", data=FORM)).status == 403
    forged = await http.post("/twilio/next", data=tampered, headers={SIGNATURE_HEADER: good})
    assert forged.status == 403
    other = twilio_signature("someone-elses-token", url, FORM.items())
    assert (
        await http.post("/twilio/next", data=FORM, headers={SIGNATURE_HEADER: other})
    ).status == 403
    assert proof.stats()["refused_bad_signature"] == 3

    signed = await http.post("/twilio/next", data=FORM, headers={SIGNATURE_HEADER: good})
    assert signed.status == 200
    assert "<Sip>sip:agents@bank.example</Sip>" in await signed.text()


async def test_server_start_refuses_a_secret_file_others_can_read(tmp_path: Path) -> None:
    token_file = tmp_path / "api-token"
    token_file.write_text(API_TOKEN)
    token_file.chmod(0o644)
    config = load_config(overrides=[f"http.api_token_file={token_file}"], environ={})
    with pytest.raises(ConfigError, match=r"http\.api_token_file: .* chmod 600"):
        await BotServer(config).start()


def test_serve_stops_on_a_missing_secret_file_before_training(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    missing = tmp_path / "nowhere" / "media-token"
    result = CliRunner().invoke(main, ["--set", f"websocket.token_file={missing}", "serve"])
    assert result.exit_code == 2
    assert (
        "websocket.token_file: secret file" in result.output and "does not exist" in result.output
    )


def test_serve_outside_the_checkout_names_the_missing_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["--set", f"bank.database=sqlite:///{tmp_path}/b.db", "serve"]
    )
    assert result.exit_code == 1, result.exception
    assert f"{tmp_path}/dialogue/domain.yml" in result.output
    assert "dialogue.project_dir" in result.output


def test_serve_stops_with_the_setting_of_a_missing_recording_key_file(tmp_path: Path) -> None:
    """Read once the services start, after training: still a usage error, not a traceback."""
    from click.testing import CliRunner

    from ivr.cli import main

    missing = tmp_path / "recording.keys"
    result = CliRunner().invoke(main, ["--set", f"call.recording_key_file={missing}", "serve"])
    assert result.exit_code == 2, result.exception
    assert f"call.recording_key_file: secret file '{missing}' does not exist" in result.output
