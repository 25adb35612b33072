"""The handoff board the platform asks after the bot leaves a stream, and Twilio's next TwiML."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.platform import platform_routes, twiml_after_stream
from telephony.handoff import HandoffBoard


def test_handoffs_are_kept_for_a_while_then_forgotten() -> None:
    now = [100.0]
    board = HandoffBoard(keep_s=60, clock=lambda: now[0])
    board.post("call-1", "sip:agents@bank.example", "caller_request")
    now[0] += 59
    handoff = board.get("call-1")
    assert handoff is not None and handoff.reason == "caller_request"
    assert board.get("call-2") is None
    now[0] += 2
    assert board.get("call-1") is None


def test_twiml_dials_the_agent_after_a_handoff_and_hangs_up_otherwise() -> None:
    assert "<Dial><Sip>sip:agents@bank.example</Sip></Dial>" in twiml_after_stream(
        "sip:agents@bank.example"
    )
    assert "<Dial><Number>+15550100</Number></Dial>" in twiml_after_stream("+15550100")
    assert "<Hangup/>" in twiml_after_stream(None)
    assert "&lt;" in twiml_after_stream("sip:<x>@y"), "the target is escaped"


async def test_twilio_action_url_answers_by_call_sid() -> None:
    board = HandoffBoard()
    board.post("CA123", "sip:agents@bank.example", "frustration")
    app = web.Application()
    platform_routes(board)(app)
    async with TestClient(TestServer(app)) as client:
        handed = await client.post("/twilio/next", data={"CallSid": "CA123"})
        assert handed.content_type == "application/xml"
        assert "<Sip>sip:agents@bank.example</Sip>" in await handed.text()
        other = await client.post("/twilio/next", data={"CallSid": "CA999"})
        assert "<Hangup/>" in await other.text()
        details = await client.get("/calls/CA123/next")
        assert await details.json() == {
            "call_id": "CA123",
            "next": "agent",
            "target": "sip:agents@bank.example",
            "reason": "frustration",
        }
