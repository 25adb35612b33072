"""One call's RTP audio stream over UDP: G.711 both ways, RFC 4733 DTMF, paced sending.

``RtpSession`` is the thin asyncio protocol that owns the call's RTP socket. Inbound: the
source rule below, a reorder buffer (``telephony.jitter``), PCMU/PCMA decoded to 20 ms frames
of 8 kHz PCM, losses filled with silence, telephone-events reported once per key. Outbound: a
``Pacer`` drives one packet per 20 ms with a random SSRC and random initial sequence number and
timestamp (RFC 3550 section 5.1), the marker on each talkspurt start, DTMF events in place of
audio while they last.

Whose RTP is accepted. The RTP port is open to anyone who finds it, so a stranger spraying
ports must not take over a call's audio. A datagram is accepted only from:

1. the *signalled address*: the host (c= line) and port (m= line) of the peer's SDP, always;
2. otherwise, before the first accepted packet only (latching, RFC 4961 symmetric RTP and
   the usual NAT practice), any port of the *signalled host* or of the *signalling host*
   (where the call's SIP came from, ``signalling_host``): a caller behind NAT puts its private
   address in SDP, and its packets come from its NAT's public address, the same host its SIP
   came from.

The first accepted packet fixes the source: from then on only that address is accepted (and
RTP is sent back to it), except that a packet from the signalled address itself moves the
latch there once. A new remote address in a re-INVITE starts latching afresh. Everything else
is dropped before parsing and counted in ``rx_strangers``; it neither reaches the caller's
audio nor keeps a silent call alive past its media timeout.

How fast the caller may send. Given an ``InputRate``, the session polices the caller's input
with one ``InputPolicer`` (``telephony.policing``): audio decoded from the peer's packets
passes at real time plus ``audio_burst_s``, digits (RFC 4733 here, SIP INFO through
``keypad``) at most ``dtmf_per_s`` a second; the excess is dropped and counted
(``rx_audio_dropped_ms``, ``rx_dtmf_dropped``), and the call goes on. The silence that
conceals lost packets and fills the caller's pauses is the session's own real-time fill, not
the caller's input, and is not policed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from speech.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from telephony.dtmf import DtmfReceiver, dtmf_packets
from telephony.jitter import ReorderBuffer
from telephony.pacing import FillerKind, Pacer
from telephony.policing import InputPolicer, InputRate
from telephony.rtp import PT_CN, PT_PCMA, PT_PCMU, RtpPacket, is_rtcp, pack_rtp
from telephony.sdp import MediaParameters

log = logging.getLogger(__name__)

RATE = 8000
"""G.711 sample rate; also the RTP clock rate of PCMU, PCMA and telephone-event."""
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
MAX_FILL_FRAMES = 10
"""Largest timestamp gap (in frames) filled with silence; bigger gaps are pauses, not loss."""
RX_IDLE_TICKS = 5
"""After this many ticks without caller audio, silence frames are delivered in real time."""
DTMF_GAP_TICKS = 3
"""Inter-digit pause when sending several digits (60 ms)."""

_DECODERS: dict[int, Callable[[bytes], bytes]] = {PT_PCMU: ulaw_decode, PT_PCMA: alaw_decode}
_ENCODERS: dict[str, Callable[[bytes], bytes]] = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
_STATIC_PT = {"PCMU": PT_PCMU, "PCMA": PT_PCMA}


class RtpSession(asyncio.DatagramProtocol):
    """The RTP side of one call; ``on_audio`` gets 20 ms PCM frames, ``on_dtmf`` digits."""

    def __init__(
        self,
        on_audio: Callable[[bytes], None],
        on_dtmf: Callable[[str], None],
        *,
        filler: FillerKind = "silence",
        reorder_window: int = 3,
        on_timeout: Callable[[], None] | None = None,
        timeout: float = 0.0,
        input_rate: InputRate | None = None,
    ) -> None:
        """``on_timeout`` is called once if no RTP arrives for ``timeout`` seconds while the
        peer should be sending (0 disables): the caller's side is gone without a BYE.
        ``input_rate`` polices the caller's audio and digits; None trusts them."""
        self.policer = InputPolicer(input_rate, RATE * 2) if input_rate is not None else None
        self._on_audio = on_audio
        self._on_dtmf = on_dtmf
        self._on_timeout = on_timeout
        self._timeout_ticks = int(timeout * 1000 / FRAME_MS) if timeout > 0 else 0
        self._rx_last_any_slot = 0
        self.timed_out = False
        self.pacer = Pacer(self._send_frame, rate=RATE, frame_ms=FRAME_MS, filler=filler)
        self._transport: asyncio.DatagramTransport | None = None
        self.local_port = 0
        self.params: MediaParameters | None = None
        self._remote: tuple[str, int] | None = None
        self._signalled: tuple[str, int] | None = None
        """The SDP's address and port in socket form, or None if no packet can come from it."""
        self._latched: tuple[str, int] | None = None
        self.signalling_host: str | None = None
        """Host the call's signalling came from: RTP from it may latch (the NAT case)."""
        self._sending = False
        self._encode: Callable[[bytes], bytes] = ulaw_encode
        self._payload_type = PT_PCMU
        self._te_pt: int | None = None
        self._silence_payload = ulaw_encode(bytes(FRAME_BYTES))
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts0 = random.getrandbits(32)
        self._first_packet = True

        self._reorder: ReorderBuffer[RtpPacket] = ReorderBuffer(reorder_window)
        self._rx_ssrc: int | None = None
        self._rx_next_ts: int | None = None
        self._rx_buf = bytearray()
        self._rx_last_slot = 0
        self._rx_idle_filled = 0
        self._dtmf_rx = DtmfReceiver()
        self._dtmf_items: deque[tuple[int, bool, bytes] | None] = deque()
        self._dtmf_digit = -1
        self._dtmf_ts = 0
        self._dtmf_done: list[asyncio.Future[None]] = []
        self._closed = False
        self.on_frame: Callable[[bytes], None] | None = None
        """Called with every outbound PCM frame at its tick (silence included, also on hold):
        the bot's side of the line, time-aligned, for recording and echo cancellation."""

        self.rx_packets = 0
        self.rx_malformed = 0
        self.rx_strangers = 0
        self.rx_unknown_pt = 0
        self.rx_rtcp = 0
        self.rx_fill_frames = 0
        self.rx_dtmf = 0
        self.tx_packets = 0
        self.tx_dtmf_packets = 0

    # -- set-up ----------------------------------------------------------------------------

    async def open(self, host: str, port_range: tuple[int, int], attempts: int = 64) -> int:
        """Bind the RTP socket to a free even port in ``port_range``; return the port."""
        loop = asyncio.get_running_loop()
        low, high = port_range
        low += low % 2
        if high < low:
            raise ValueError(f"RTP port range {port_range} contains no even port")
        last_error: OSError | None = None
        for _ in range(attempts):
            port = random.randrange(low, high + 1, 2)
            try:
                await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
            except OSError as exc:
                last_error = exc
                continue
            self.local_port = port
            return port
        raise OSError(f"no free RTP port in {low}-{high} after {attempts} tries: {last_error}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def configure(self, params: MediaParameters) -> None:
        """Apply (re)negotiated media parameters: codec, remote address, direction."""
        previous = self.params
        self.params = params
        self._encode = _ENCODERS[params.codec]
        self._payload_type = params.payload_type
        self._silence_payload = self._encode(bytes(FRAME_BYTES))
        self._te_pt = params.telephone_event
        self._sending = params.sending
        self._rx_last_any_slot = self.pacer.slot  # media timeout counts from the new session
        remote = (params.remote_address, params.remote_port)
        if previous is None or (previous.remote_address, previous.remote_port) != remote:
            self._remote = remote if params.sending else None
            self._signalled = _socket_address(*remote)
            self._latched = None  # a new address from re-INVITE: latch afresh
        if not params.sending and self._dtmf_items:
            self._dtmf_items.clear()
            self._finish_dtmf()

    def start(self) -> None:
        """Start paced sending (and the inbound idle fill); a closed session stays silent
        (``Pacer.stop`` is final)."""
        self.pacer.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.pacer.stop()
        self._dtmf_items.clear()
        self._finish_dtmf()
        if self._transport is not None:
            self._transport.close()

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """Where RTP goes: the latched source once the caller sent, else the SDP address."""
        return self._remote

    # -- inbound ---------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = (addr[0], addr[1])
        if source != self._latched and not self._may_latch(source):
            self.rx_strangers += 1
            return
        if is_rtcp(data):
            self.rx_rtcp += 1
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            self.rx_malformed += 1
            return
        pt = packet.payload_type
        params = self.params
        if params is None:
            self.rx_unknown_pt += 1
            return
        is_event = pt == self._te_pt and pt is not None
        if not is_event and pt not in _DECODERS and pt != PT_CN:
            self.rx_unknown_pt += 1
            return
        self._latch(source)
        self.rx_packets += 1
        self._rx_last_any_slot = self.pacer.slot
        if packet.ssrc != self._rx_ssrc:
            if is_event and self._rx_ssrc is not None:
                self._receive_dtmf(packet)  # events on an SSRC of their own: not reordered
                return
            self._rx_ssrc = packet.ssrc
            self._reorder.reset()
            self._rx_next_ts = None
        # Events share the audio's sequence numbers, so both go through the reorder buffer.
        for ordered in self._reorder.push(packet.sequence_number, packet):
            if ordered.payload_type == self._te_pt:
                self._receive_dtmf(ordered)
            else:
                self._deliver(ordered)

    def _may_latch(self, source: tuple[str, int]) -> bool:
        """The source rule of the module docstring, for a source other than the latched one."""
        signalled = self._signalled
        if source == signalled:
            return True
        if self._latched is not None:
            return False
        host = source[0]
        return host == self.signalling_host or (signalled is not None and host == signalled[0])

    def _latch(self, source: tuple[str, int]) -> None:
        if source != self._latched:
            self._latched = source
            if self._sending:
                self._remote = source

    def _receive_dtmf(self, packet: RtpPacket) -> None:
        try:
            digit = self._dtmf_rx.feed(packet.timestamp, packet.payload)
        except ValueError:
            self.rx_malformed += 1
            return
        if digit is not None:
            self.rx_dtmf += 1
            self.keypad(digit)

    def keypad(self, digit: str) -> None:
        """A digit the caller pressed (RFC 4733, or SIP INFO from the call): passed on within
        the rate, else dropped and counted."""
        if self.policer is None or self.policer.dtmf():
            self._on_dtmf(digit)

    def _deliver(self, packet: RtpPacket) -> None:
        self._rx_last_slot = self.pacer.slot
        if packet.payload_type == PT_CN:
            pcm = bytes(FRAME_BYTES)  # comfort noise: deliver silence of one frame
            samples = FRAME_SAMPLES
        else:
            pcm = _DECODERS[packet.payload_type](packet.payload)
            samples = len(packet.payload)
        expected = self._rx_next_ts
        if expected is not None:
            gap = (packet.timestamp - expected) & 0xFFFFFFFF
            gap -= self._rx_idle_filled
            if 0 < gap <= MAX_FILL_FRAMES * FRAME_SAMPLES:
                self._push_pcm(bytes(2 * gap))  # concealment of lost packets: silence
        self._rx_idle_filled = 0
        self._rx_next_ts = (packet.timestamp + samples) & 0xFFFFFFFF
        self._push_pcm(pcm if self.policer is None else self.policer.audio(pcm))

    def _push_pcm(self, pcm: bytes) -> None:
        if not self._rx_buf and len(pcm) == FRAME_BYTES:
            self._on_audio(pcm)
            return
        self._rx_buf += pcm
        while len(self._rx_buf) >= FRAME_BYTES:
            frame = bytes(self._rx_buf[:FRAME_BYTES])
            del self._rx_buf[:FRAME_BYTES]
            self._on_audio(frame)

    # -- outbound --------------------------------------------------------------------------

    def _send_frame(self, pcm: bytes) -> None:
        pacer = self.pacer
        if self.on_frame is not None:
            self.on_frame(pcm)
        if pacer.slot - self._rx_last_slot > RX_IDLE_TICKS and self.params is not None:
            # The caller sends nothing (silence suppression, hold, loss): keep frames flowing.
            self.rx_fill_frames += 1
            self._rx_idle_filled += FRAME_SAMPLES
            self._on_audio(bytes(FRAME_BYTES))
            if (
                self._timeout_ticks
                and not self.timed_out
                and pacer.slot - self._rx_last_any_slot >= self._timeout_ticks
                and self.params.receiving
            ):
                self.timed_out = True
                if self._on_timeout is not None:
                    self._on_timeout()
        transport = self._transport
        remote = self._remote
        if not self._sending or remote is None or transport is None:
            return
        timestamp = self._ts0 + pacer.slot * FRAME_SAMPLES
        if self._dtmf_items:
            item = self._dtmf_items.popleft()
            if item is not None and self._te_pt is not None:
                digit_id, marker, payload = item
                if digit_id != self._dtmf_digit:
                    self._dtmf_digit = digit_id
                    self._dtmf_ts = timestamp
                data = pack_rtp(self._te_pt, marker, self._seq, self._dtmf_ts, self._ssrc, payload)
                self.tx_dtmf_packets += 1
                self._emit(transport, data, remote)
                if not self._dtmf_items:
                    self._finish_dtmf()
                return
            if not self._dtmf_items:
                self._finish_dtmf()
        payload = self._silence_payload if pcm is pacer.silence_frame else self._encode(pcm)
        marker = self._first_packet or pacer.talkspurt_start
        self._first_packet = False
        self._emit(
            transport,
            pack_rtp(self._payload_type, marker, self._seq, timestamp, self._ssrc, payload),
            remote,
        )

    def _emit(
        self, transport: asyncio.DatagramTransport, data: bytes, remote: tuple[str, int]
    ) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        self.tx_packets += 1
        transport.sendto(data, remote)

    @property
    def can_send_dtmf(self) -> bool:
        """True if the peer accepted telephone-event, so RFC 4733 DTMF can be sent."""
        return self._te_pt is not None and self._sending

    async def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        """Send digits as RFC 4733 events (replacing audio while they last); wait until sent."""
        if not self.can_send_dtmf:
            raise RuntimeError("the peer did not negotiate telephone-event")
        sequences = [dtmf_packets(d, duration_ms=duration_ms) for d in digits]  # validates first
        for index, packets in enumerate(sequences):
            if index:
                self._dtmf_items.extend([None] * DTMF_GAP_TICKS)
            digit_id = random.getrandbits(30)
            self._dtmf_items.extend((digit_id, marker, bytes(ev)) for marker, ev in packets)
        if not self.pacer.running:
            self._dtmf_items.clear()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dtmf_done.append(future)
        await future

    def _finish_dtmf(self) -> None:
        done, self._dtmf_done = self._dtmf_done, []
        for future in done:
            if not future.done():
                future.set_result(None)

    def stats(self) -> dict[str, int]:
        reorder = self._reorder
        return {
            "rx_packets": self.rx_packets,
            "rx_malformed": self.rx_malformed,
            "rx_strangers": self.rx_strangers,
            "rx_unknown_pt": self.rx_unknown_pt,
            "rx_rtcp": self.rx_rtcp,
            "rx_duplicates": reorder.duplicates,
            "rx_late": reorder.late,
            "rx_lost": reorder.lost,
            "rx_reordered": reorder.reordered,
            "rx_fill_frames": self.rx_fill_frames,
            "rx_dtmf": self.rx_dtmf,
            "tx_packets": self.tx_packets,
            "tx_dtmf_packets": self.tx_dtmf_packets,
            **self._policed(),
            **self.pacer.stats(),
        }

    def _policed(self) -> dict[str, int]:
        """What the policer dropped (zero without one, so the counters always exist)."""
        policer = self.policer
        if policer is None:
            return {"rx_audio_dropped_ms": 0, "rx_dtmf_dropped": 0}
        return {
            "rx_audio_dropped_ms": policer.dropped_audio_bytes * 1000 // (RATE * 2),
            "rx_dtmf_dropped": policer.dropped_dtmf,
        }


def _socket_address(host: str, port: int) -> tuple[str, int] | None:
    """``(host, port)`` as a socket reports a datagram's source, or None if none can match.

    An IP literal is written the canonical way (sockets report ``::1``, not ``0::1``); a
    name, the unspecified address of a held call or port 0 never appears as a source.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_unspecified or not 0 < port < 65536:
        return None
    return (str(address), port)
