"""The reorder buffer delivers in order, drops duplicates and late packets, skips real losses."""

from __future__ import annotations

from telephony.jitter import ReorderBuffer


def push_all(buffer: ReorderBuffer[int], seqs: list[int]) -> list[int]:
    out: list[int] = []
    for seq in seqs:
        out.extend(buffer.push(seq, seq))
    return out


def test_in_order_stream_passes_straight_through() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(3)
    for seq in range(100, 110):
        assert buffer.push(seq, seq) == [seq]
    assert buffer.held == 0


def test_reordered_packets_come_out_in_order() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(3)
    assert push_all(buffer, [1, 3, 2, 5, 4, 6]) == [1, 2, 3, 4, 5, 6]
    assert buffer.lost == 0
    assert buffer.reordered == 2


def test_duplicates_and_late_packets_are_dropped() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(3)
    assert push_all(buffer, [1, 2, 2, 3, 1]) == [1, 2, 3]
    assert buffer.duplicates == 2


def test_a_lost_packet_is_skipped_after_the_window_fills() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(2)
    assert push_all(buffer, [1, 3, 4]) == [1]
    assert buffer.push(5, 5) == [3, 4, 5]
    assert buffer.lost == 1
    assert buffer.push(2, 2) == []  # too late now
    assert buffer.late == 1


def test_sequence_wrap_around() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(3)
    assert push_all(buffer, [65534, 0, 65535, 1]) == [65534, 65535, 0, 1]


def test_a_big_jump_restarts_the_stream() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(3)
    assert push_all(buffer, [10, 11, 30000, 30001]) == [10, 11, 30000, 30001]
    assert buffer.resets == 1
