"""The SIP server's limits over real sockets: pike bans, table caps, TCP caps and idle timeout.

127.0.0.1 plays the hostile source and 127.0.0.2 (also loopback on Linux) an honest one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from speech.g711 import ulaw_encode
from telephony.bridge import AudioIn, CallBridge, DtmfIn, Hangup
from telephony.dtmf import TelephoneEvent
from telephony.rtp import RtpPacket
from telephony.sip.limits import Pike, SipLimits
from telephony.sip.message import MAX_HEADER_LENGTH, MAX_HEADER_LINES, SipResponse
from telephony.sip.server import SipServer

from .peers import wait_for
from .rawsip import RawSip, RtpPeer, offer_sdp
from .test_sip_server import Calls, establish, rtp_target

T1 = 0.05
HONEST = "127.0.0.2"


@pytest.fixture
def calls() -> Calls:
    return Calls()


async def listen_until_hangup(bridge: CallBridge) -> None:
    while not isinstance(await bridge.receive(), Hangup):
        pass


async def started(limits: SipLimits, **options: object) -> SipServer:
    server = SipServer(
        "127.0.0.1",
        0,
        listen_until_hangup,
        rtp_port_range=(43000, 43998),
        timer_t1=T1,
        limits=limits,
        **options,  # type: ignore[arg-type]
    )
    await server.start()
    return server


@pytest.fixture
async def peers() -> AsyncIterator[list[RawSip]]:
    opened: list[RawSip] = []
    yield opened
    for peer in opened:
        peer.close()


async def peer(
    server: SipServer, opened: list[RawSip], host: str = "127.0.0.1", transport: str = "UDP"
) -> RawSip:
    client = await RawSip(server.port, transport, host=host).open()
    opened.append(client)
    return client


async def closed_by_server(client: RawSip) -> bool:
    """Whether the server closed this TCP client's connection (EOF, or a write refused)."""
    assert client._reader is not None
    try:
        return await asyncio.wait_for(client._reader.read(1), 0.5) == b""
    except asyncio.TimeoutError:
        return False  # still open
    except OSError:
        return True


async def answered(client: RawSip, timeout: float = 0.5) -> SipResponse | None:
    """Send OPTIONS; its final response, or None if nothing came."""
    client.send(client.request("OPTIONS"))
    response = await client.recv(timeout)
    assert response is None or isinstance(response, SipResponse)
    return response


def test_pike_bans_a_dense_source_for_ban_s_then_counts_afresh() -> None:
    now = [0.0]
    pike = Pike(
        SipLimits(pike_requests=5, pike_invites=2, pike_window_s=1.0, pike_ban_s=10.0),
        lambda: now[0],
    )
    assert all(pike.admit("a", invite=False) for _ in range(5))
    assert not pike.admit("a", invite=False)  # the sixth in one window
    assert pike.admit("b", invite=False)  # another source is untouched
    now[0] = 9.0
    assert not pike.admit("a", invite=False) and pike.banned("a")
    now[0] = 10.5
    assert pike.admit("a", invite=False)
    assert pike.admit("c", invite=True) and pike.admit("c", invite=True)
    assert not pike.admit("c", invite=True)  # three INVITEs over pike_invites=2
    assert pike.stats()["pike_bans"] == 2 and pike.stats()["pike_sources_banned"] == 1


def test_pike_table_is_bounded_and_forgets_the_quietest_source() -> None:
    pike = Pike(SipLimits(pike_requests=3, pike_max_sources=100))
    pike.admit("flooder", invite=False)
    for n in range(500):
        pike.admit(f"10.0.{n // 256}.{n % 256}", invite=False)
        pike.admit("flooder", invite=False) if n < 3 else None
    stats = pike.stats()
    assert stats["pike_sources_tracked"] == 100 and stats["pike_sources_forgotten"] == 401


async def test_a_flooding_source_is_banned_while_another_is_still_answered(
    peers: list[RawSip],
) -> None:
    server = await started(SipLimits(pike_requests=20, pike_window_s=5.0, pike_ban_s=2.0))
    try:
        hostile = await peer(server, peers)
        honest = await peer(server, peers, HONEST)
        for _ in range(40):
            hostile.send(hostile.request("OPTIONS"))
        replies = 0
        while await hostile.recv(0.3) is not None:
            replies += 1
        assert replies == 20  # the first pike_requests, then silence (no reflection)
        assert await answered(hostile) is None
        response = await answered(honest)
        assert response is not None and response.status == 200
        stats = server.stats()
        assert stats["pike_bans"] == 1 and stats["pike_dropped"] == 21
        assert stats["pike_sources_banned"] == 1
        await asyncio.sleep(2.0)  # the ban ends
        response = await answered(hostile)
        assert response is not None and response.status == 200
    finally:
        await server.stop()


async def test_an_invite_flood_holds_few_lines_and_an_honest_caller_still_gets_through(
    peers: list[RawSip],
) -> None:
    limits = SipLimits(pike_invites=8, pike_window_s=5.0, max_unconfirmed_per_source=2)
    server = await started(limits, max_calls=4)
    rtp = await RtpPeer().open()
    try:
        hostile = await peer(server, peers)
        for n in range(20):  # never ACKed: each answered call would be retransmitted 64*T1
            hostile.send(
                hostile.request(
                    "INVITE",
                    body=offer_sdp(rtp.port),
                    content_type="application/sdp",
                    call_id=f"flood-{n}",
                )
            )
        statuses: dict[str, int] = {}
        while (response := await hostile.recv(0.3)) is not None:
            if isinstance(response, SipResponse) and response.status >= 200:
                statuses[response.call_id] = response.status
        stats = server.stats()
        assert stats["calls_rejected_unconfirmed"] >= 1 and stats["pike_bans"] == 1
        assert stats["active_calls"] <= 2  # the flood holds at most two of four lines
        honest = await peer(server, peers, HONEST)
        invite = honest.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        honest.send(invite)
        ok = await honest.expect(200)
        honest.send(honest.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        finals = list(statuses.values())
        assert finals.count(200) == 2 and finals.count(486) == 6  # then banned: 12 unanswered
    finally:
        rtp.close()
        await server.stop()


async def test_the_transaction_table_is_capped_with_503(peers: list[RawSip]) -> None:
    server = await started(SipLimits(max_transactions=5))
    try:
        client = await peer(server, peers)
        for _ in range(8):  # each lingers 64*T1 (timer J) after its 200
            client.send(client.request("OPTIONS"))
        statuses = []
        while (response := await client.recv(0.3)) is not None:
            assert isinstance(response, SipResponse)
            statuses.append(response.status)
        assert sorted(statuses) == [200] * 5 + [503] * 3
        assert server.stats()["refused_transactions_full"] == 3
        assert server.stats()["transactions"] == 5
        assert await wait_for(lambda: len(server.transactions) == 0, 64 * T1 + 1.0)
        response = await answered(client)
        assert response is not None and response.status == 200
    finally:
        await server.stop()


async def test_the_dialog_table_is_capped_with_503(peers: list[RawSip]) -> None:
    server = await started(SipLimits(max_dialogs=1), max_calls=5)
    rtp = await RtpPeer().open()
    try:
        first = await peer(server, peers)
        invite = first.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        first.send(invite)
        ok = await first.expect(200)
        first.send(first.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        second = await peer(server, peers, HONEST)
        second.send(
            second.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        )
        assert (await second.expect(503)).get("Retry-After")
        assert server.stats()["calls_rejected_dialogs_full"] == 1
    finally:
        rtp.close()
        await server.stop()


async def test_tcp_connections_are_capped_per_source_and_in_total(peers: list[RawSip]) -> None:
    server = await started(SipLimits(tcp_max_connections=3, tcp_max_per_source=2))
    try:
        own = [await peer(server, peers, transport="TCP") for _ in range(3)]
        for client in own[:2]:
            assert (response := await answered(client, 2.0)) is not None and response.status == 200
        assert await answered(own[2], 1.0) is None  # the third from one source is closed
        other = await peer(server, peers, HONEST, "TCP")
        assert (response := await answered(other, 2.0)) is not None and response.status == 200
        fourth = await peer(server, peers, "127.0.0.3", "TCP")
        assert await answered(fourth, 1.0) is None  # three open in total
        stats = server.stats()
        assert stats["tcp_refused_limit"] == 2 and stats["tcp_connections"] == 3
    finally:
        await server.stop()


async def test_idle_tcp_connections_are_closed_even_when_dribbling(peers: list[RawSip]) -> None:
    server = await started(SipLimits(tcp_idle_s=0.4))
    try:
        silent = await peer(server, peers, transport="TCP")
        dribbler = await peer(server, peers, HONEST, transport="TCP")
        talker = await peer(server, peers, "127.0.0.3", "TCP")
        request_line = b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n"  # never a whole message
        for byte in request_line[:6]:
            with contextlib.suppress(OSError):
                dribbler.send(bytes([byte]))
            response = await answered(talker, 1.0)  # whole messages keep a connection open
            assert response is not None and response.status == 200
            await asyncio.sleep(0.15)
        assert server.stats()["tcp_idle_closed"] == 2
        assert await closed_by_server(silent) and await closed_by_server(dribbler)
        assert await wait_for(lambda: server.stats()["tcp_idle_closed"] == 3, 2.0)
        assert server.stats()["tcp_connections"] == 0
    finally:
        await server.stop()


async def test_headers_over_the_limits_get_400_and_a_long_via_costs_little(
    peers: list[RawSip],
) -> None:
    server = await started(SipLimits())
    try:
        client = await peer(server, peers)
        client.send(client.request("OPTIONS", headers=[("X-Long", "x" * (MAX_HEADER_LENGTH + 1))]))
        assert "longer than" in (await client.expect(400)).reason
        many = [("X-Many", str(n)) for n in range(MAX_HEADER_LINES)]
        client.send(client.request("OPTIONS", headers=many))
        assert "header lines" in (await client.expect(400)).reason
        # A 64 KB Via of spaces once took 13 s of CPU on the event loop (regex backtracking).
        hostile = client.request("OPTIONS")
        hostile.headers.insert(0, ("Via", "SIP/2.0/UDP a" + " " * 60000 + "b"))
        cpu = time.process_time()
        client.send(hostile)
        assert "longer than" in (await client.expect(400)).reason  # the other Via is readable
        assert time.process_time() - cpu < 0.15
        response = await answered(client)
        assert response is not None and response.status == 200
    finally:
        await server.stop()


async def test_an_unacknowledged_answer_is_resent_a_bounded_number_of_times(
    peers: list[RawSip],
) -> None:
    """RFC 3261 13.3.1.4: 2xx resent from T1 doubling to T2 for 64*T1, then BYE and silence,
    so one forged INVITE draws at most eight answers at its victim."""
    server = await started(SipLimits())
    rtp = await RtpPeer().open()
    try:
        client = await peer(server, peers)
        invite = client.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        client.send(invite)
        await client.expect("BYE", timeout=64 * T1 + 2.0)
        answers = [m for m in client.received if isinstance(m, SipResponse) and m.status == 200]
        assert 5 <= len(answers) <= 8
        client.received.clear()
        await asyncio.sleep(1.0)
        while await client.recv(0.1) is not None:
            pass
        assert not [m for m in client.received if isinstance(m, SipResponse)]
        assert server.stats()["calls_ack_timeout"] == 1
    finally:
        rtp.close()
        await server.stop()


@contextlib.asynccontextmanager
async def call_in_progress(
    calls: Calls, limits: SipLimits
) -> AsyncIterator[tuple[SipServer, RawSip, SipResponse, RtpPeer]]:
    """A SIP server with ``limits`` and one call up: the peer, its 200 OK and its RTP socket."""
    server = SipServer(
        "127.0.0.1", 0, calls.on_call, rtp_port_range=(43000, 43998), timer_t1=T1, limits=limits
    )
    await server.start()
    client = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(client, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
        yield server, client, ok, rtp
    finally:
        rtp.close()
        client.close()
        await server.stop()


def voiced_frames(events: list[object]) -> int:
    """Caller audio frames with sound in them (the bridge's own fill is all zeros)."""
    return sum(1 for e in events if isinstance(e, AudioIn) and any(e.pcm))


async def test_rtp_audio_ten_times_faster_than_real_time_is_cut_to_real_time_plus_the_burst(
    calls: Calls,
) -> None:
    voiced = ulaw_encode((1000).to_bytes(2, "little", signed=True) * 160)  # 20 ms, not silent
    burst_s = 0.5  # not the default (1.0): the server must use the configured burst
    async with call_in_progress(calls, SipLimits(audio_burst_s=burst_s)) as (server, _, ok, rtp):
        target = rtp_target(ok)
        began = time.monotonic()
        for seq in range(150):  # three seconds of audio in 0.3 s
            rtp.send(bytes(RtpPacket(0, seq == 0, seq, seq * 160, 7, payload=voiced)), target)
            if seq % 10 == 9:
                await asyncio.sleep(0.02)
        elapsed = time.monotonic() - began
        stats = lambda: server.stats()  # noqa: E731
        assert await wait_for(lambda: stats()["rtp_rx_packets"] == 150, 3.0)
        await asyncio.sleep(0.1)  # the reorder buffer's last packets, if any, are out
        heard = voiced_frames(calls.events[0])
        allowed = (burst_s + elapsed) * 50  # the burst plus real time while sending, in frames
        assert burst_s * 50 <= heard <= allowed + 1, f"{heard} frames heard in {elapsed:.2f} s"
        dropped_ms = stats()["rtp_rx_audio_dropped_ms"]
        assert 3000 - 40 <= dropped_ms + 20 * heard <= 3000, (dropped_ms, heard)
        assert dropped_ms >= 3000 - 20 * (allowed + 1)
        assert calls.finished == 0 and stats()["active_calls"] == 1, "the call goes on"


async def test_a_burst_of_fifty_digits_over_rtp_and_info_passes_dtmf_per_s_of_them(
    calls: Calls,
) -> None:
    limits = SipLimits(dtmf_per_s=5.0)  # not the default (10)
    async with call_in_progress(calls, limits) as (server, client, ok, rtp):
        target = rtp_target(ok)
        for n in range(50):  # fifty distinct presses at once, one end packet each
            event = TelephoneEvent(n % 10, end=True, duration=800)
            rtp.send(bytes(RtpPacket(101, True, n, n * 1600, 9, payload=bytes(event))), target)
        assert await wait_for(lambda: server.stats()["rtp_rx_dtmf"] == 50, 3.0)
        for _ in range(3):  # SIP INFO digits share the same allowance
            client.send(
                client.request(
                    "INFO",
                    to_tag=ok.to.tag,
                    body=b"Signal=5\r\nDuration=160\r\n",
                    content_type="application/dtmf-relay",
                )
            )
            await client.expect(200)
        await asyncio.sleep(0.1)
        digits = [e for e in calls.events[0] if isinstance(e, DtmfIn)]
        assert 5 <= len(digits) <= 7, [d.digit for d in digits]
        stats = server.stats()
        assert stats["rtp_rx_dtmf_dropped"] == 53 - len(digits)
        assert stats["dtmf_info"] == 3
        assert calls.finished == 0 and stats["active_calls"] == 1, "the call goes on"
