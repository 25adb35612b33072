"""HTTP answers for the platform in front of the bot: where a call goes once the bot leaves it.

Asterisk (after ``AudioSocket()`` or ``Dial(WebSocket/...)``) asks ``GET /calls/{id}/next``
with ``CURL()`` and branches on the plain-text answer, ``agent`` or ``hangup``; JSON with the
target and reason is there for other platforms. Twilio requests ``POST /twilio/next``, the
``<Connect action=...>`` URL, when the media stream ends, and gets TwiML back. Both answers
say where a caller goes, so they want proof once it is configured (``ivr.http.HttpProof``):
the API token for Asterisk (``CURL()`` can put it in ``?token=``), Twilio's signature.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from ivr.http import HttpProof, RouteSource
from telephony.handoff import HandoffBoard


def platform_routes(board: HandoffBoard, proof: HttpProof | None = None) -> RouteSource:
    """The routes above, answering from the board the stream transports post handoffs to."""
    guard = proof or HttpProof()

    async def next_step(request: web.Request) -> web.Response:
        guard.require_token(request)
        call_id = request.match_info["call_id"]
        handoff = board.get(call_id)
        step = "agent" if handoff is not None else "hangup"
        if request.query.get("format") == "text":
            return web.Response(text=step)
        body: dict[str, str] = {"call_id": call_id, "next": step}
        if handoff is not None:
            body |= {"target": handoff.target, "reason": handoff.reason}
        return web.json_response(body)

    async def twilio_next(request: web.Request) -> web.Response:
        await guard.require_twilio(request)
        form = await request.post()
        handoff = board.get(str(form.get("CallSid", "")))
        return web.Response(
            text=twiml_after_stream(handoff.target if handoff else None),
            content_type="application/xml",
        )

    def add(app: web.Application) -> None:
        app.router.add_get("/calls/{call_id}/next", next_step)
        app.router.add_post("/twilio/next", twilio_next)

    return add


def twiml_after_stream(target: str | None) -> str:
    """``<Dial>`` the agent target (a SIP URI or a number) after a handoff, else hang up."""
    if target is None:
        verb = "<Hangup/>"
    elif target.startswith(("sip:", "sips:")):
        verb = f"<Dial><Sip>{escape(target)}</Sip></Dial>"
    else:
        verb = f"<Dial><Number>{escape(target)}</Number></Dial>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{verb}</Response>'
