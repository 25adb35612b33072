"""SIP protocol edges against sipp (Debian sip-tester) scenarios: sipp fails on any surprise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.bridge import CallBridge, Hangup
from telephony.sip.server import SipServer

from .peers import SIPP

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")

T1 = 0.05  # 64*T1 = 3.2 s: the wait for an ACK that never comes

HEADERS = """      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bot@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      Max-Forwards: 70
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>"""

IN_DIALOG = """      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      Max-Forwards: 70
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>"""


def sdp(formats: str = "0 101", direction: str = "sendrecv") -> str:
    return f"""v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {formats}
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a={direction}
"""


def invite(
    formats: str = "0 101", cseq: int = 1, headers: str = HEADERS, direction: str = "sendrecv"
) -> str:
    return f"""  <send retrans="500">
    <![CDATA[
      INVITE sip:bot@[remote_ip]:[remote_port] SIP/2.0
{headers}
      CSeq: {cseq} INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      {sdp(formats, direction)}
    ]]>
  </send>
"""


def request(method: str, cseq: int, headers: str = IN_DIALOG, uri: str = "[next_url]") -> str:
    return f"""  <send>
    <![CDATA[
      {method} {uri} SIP/2.0
{headers}
      CSeq: {cseq} {method}
      Content-Length: 0

    ]]>
  </send>
"""


def scenario(name: str, body: str, variables: str = "") -> str:
    reference = f'  <Reference variables="{variables}"/>\n' if variables else ""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="{name}">\n{body}{reference}</scenario>\n'
    )


def check_body(regexp: str, var: str) -> str:
    return (
        f'    <action><ereg regexp="{regexp}" search_in="body" check_it="true" '
        f'assign_to="{var}"/></action>\n'
    )


class Bot:
    def __init__(self) -> None:
        self.bridges: list[CallBridge] = []
        self.hangups: list[Hangup] = []

    async def on_call(self, bridge: CallBridge) -> None:
        self.bridges.append(bridge)
        while True:
            event = await bridge.receive()
            if isinstance(event, Hangup):
                self.hangups.append(event)
                return


@pytest.fixture
def bot() -> Bot:
    return Bot()


@pytest.fixture
async def server(bot: Bot) -> AsyncIterator[SipServer]:
    srv = SipServer(
        "127.0.0.1", 0, bot.on_call, rtp_port_range=(42000, 42998), timer_t1=T1, answer_delay=0.2
    )
    await srv.start()
    yield srv
    await srv.stop()


async def sipp(server: SipServer, tmp_path: Path, xml: str, timeout: float = 15.0) -> str:
    from .peers import run_sipp

    code, logs = await run_sipp(tmp_path, xml, f"127.0.0.1:{server.port}", timeout=timeout)
    assert code == 0, logs
    return logs


async def test_sipp_options(server: SipServer, tmp_path: Path) -> None:
    body = request("OPTIONS", 1, HEADERS, "sip:bot@[remote_ip]:[remote_port]") + (
        '  <recv response="200">\n'
        '    <action><ereg regexp="INVITE.*BYE" search_in="hdr" header="Allow:" '
        'check_it="true" assign_to="allow"/></action>\n'
        "  </recv>\n"
    )
    await sipp(server, tmp_path, scenario("options", body, "allow"))


async def test_sipp_unknown_method_gets_501_and_unknown_dialog_bye_481(
    server: SipServer, tmp_path: Path
) -> None:
    body = (
        request("FOO", 1, HEADERS, "sip:bot@[remote_ip]:[remote_port]")
        + '  <recv response="501"/>\n'
        + request(
            "BYE",
            2,
            HEADERS.replace(
                "To: <sip:bot@[remote_ip]:[remote_port]>",
                "To: <sip:bot@[remote_ip]:[remote_port]>;tag=nope",
            ),
            "sip:bot@[remote_ip]:[remote_port]",
        )
        + '  <recv response="481"/>\n'
    )
    await sipp(server, tmp_path, scenario("errors", body))
    assert server.stats()["unknown_dialog"] == 1


async def test_sipp_call_with_reinvite_hold_resume_and_bye(
    server: SipServer, bot: Bot, tmp_path: Path
) -> None:
    body = (
        invite()
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="180" optional="true"/>\n'
        + '  <recv response="200" rrs="true">\n'
        + check_body("m=audio [0-9]+ RTP/AVP 0 101", "m1")
        + "  </recv>\n"
        + request("ACK", 1)
        + '  <pause milliseconds="300"/>\n'
        + invite(cseq=2, headers=IN_DIALOG, direction="sendonly").replace(
            "INVITE sip:bot@[remote_ip]:[remote_port]", "INVITE [next_url]"
        )
        + '  <recv response="200">\n'
        + check_body("a=recvonly", "hold")
        + "  </recv>\n"
        + request("ACK", 2)
        + '  <pause milliseconds="300"/>\n'
        + invite(cseq=3, headers=IN_DIALOG).replace(
            "INVITE sip:bot@[remote_ip]:[remote_port]", "INVITE [next_url]"
        )
        + '  <recv response="200">\n'
        + check_body("a=sendrecv", "resume")
        + "  </recv>\n"
        + request("ACK", 3)
        + '  <pause milliseconds="300"/>\n'
        + request("BYE", 4)
        + '  <recv response="200" crlf="true"/>\n'
    )
    await sipp(server, tmp_path, scenario("reinvite", body, "m1,hold,resume"))
    await asyncio.sleep(0.2)
    assert len(bot.bridges) == 1
    assert bot.hangups == [Hangup("caller hung up")]


async def test_sipp_cancel_before_answer(server: SipServer, bot: Bot, tmp_path: Path) -> None:
    server.answer_delay = 3.0
    body = (
        invite()
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="180"/>\n'
        + """  <send>
    <![CDATA[
      CANCEL sip:bot@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bot@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      Max-Forwards: 70
      CSeq: 1 CANCEL
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:bot@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      Max-Forwards: 70
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>
"""
    )
    await sipp(server, tmp_path, scenario("cancel", body))
    assert server.stats()["calls_cancelled"] == 1
    assert not bot.bridges


async def test_sipp_invite_without_ack_gets_2xx_retransmissions_then_bye(
    server: SipServer, bot: Bot, tmp_path: Path
) -> None:
    body = (
        invite()
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="180" optional="true"/>\n'
        + '  <recv response="200"/>\n'
        + '  <recv request="BYE" timeout="10000"/>\n'
        + """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
    )
    logs = await sipp(server, tmp_path, scenario("noack", body), timeout=15.0)
    received_200 = logs.count("SIP/2.0 200 OK\n") + logs.count("SIP/2.0 200 OK\r\n")
    # the first 200 plus its retransmissions (T1 doubling) all show in sipp's message log
    assert received_200 >= 5, logs
    await asyncio.sleep(0.2)
    stats = server.stats()
    assert stats["calls_ack_timeout"] == 1
    assert not bot.bridges  # never confirmed, never handed to the bot
    assert stats["active_calls"] == 0


async def test_sipp_invite_without_common_codec_gets_488(server: SipServer, tmp_path: Path) -> None:
    body = (
        invite(formats="18").replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000")
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="488"/>\n'
        + """  <send>
    <![CDATA[
      ACK sip:bot@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      Max-Forwards: 70
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>
"""
    )
    await sipp(server, tmp_path, scenario("nocodec", body))
    assert server.stats()["calls_rejected"] == 1
