"""Sealed recordings: call audio encrypted at rest with AES-256-GCM, written as the call goes.

Envelope encryption: every recording gets a fresh 256-bit data key, stored in the file's header
wrapped (AES-GCM) by the newest key-encryption key of the keyring (``ivr.recording_keys``), whose
id the header names. The audio follows as a sequence of chunks, each sealed on its own as it is
flushed (about a second of audio), so a recording is streamed to disk like the WAV it replaces.

Layout (integers big-endian)::

    header  MAGIC (7) | VERSION (1) | key id length (1) | key id | rate (4) | channels (1)
            | sample width (1) | wrap nonce (12) | wrapped data key (32 + 16 tag)
    chunk   ciphertext length (4) | ciphertext (+ 16 tag)      repeated; the last one is empty

The header up to the wrap nonce is the associated data of the key wrap, so a changed rate, key
id or version fails to unwrap. A chunk's nonce is its index (a data key seals one file only, so
a counter never repeats), and its associated data is the index and a final-chunk flag: chunks
moved, dropped or cut off after the end are detected. ``close()`` writes the empty final chunk;
a recording without it (the process died mid-call) is reported as truncated.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ivr.recording_keys import SETTING, Keyring
from storage.private import OWNER_ONLY_FILE, private_dir

MAGIC = b"IVRSEAL"
VERSION = 1
SUFFIX = ".sealed"
"""File name ending of sealed recordings (they are not WAV files)."""
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_CHUNK_BYTES = 16 << 20
"""A length field above this is damage, not audio (the recorder seals about 32 kB a chunk)."""
SAMPLE_BYTES = 2
"""16-bit PCM, the only sample format recordings are written in."""
HEADER_MAX_BYTES = len(MAGIC) + 2 + 255 + 6 + NONCE_BYTES + 32 + TAG_BYTES
"""The longest header: the key id's length is one byte."""
_FORMAT = struct.Struct(">IBB")
_LENGTH = struct.Struct(">I")


class RecordingError(ValueError):
    """A recording cannot be read: not a recording, a key missing, or its content tampered with."""


class SealedWriter:
    """Writes one sealed recording to a new owner-only file (an existing file is never replaced)."""

    def __init__(
        self, path: str | Path, keyring: Keyring, rate: int, channels: int, sample_width: int = 2
    ) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
        self._file: BinaryIO = os.fdopen(descriptor, "wb")
        data_key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(data_key)
        key_id = keyring.newest_id.encode()
        kek = keyring.kek(keyring.newest_id)
        assert kek is not None
        clear = (
            MAGIC
            + bytes([VERSION, len(key_id)])
            + key_id
            + _FORMAT.pack(rate, channels, sample_width)
        )
        wrap_nonce = os.urandom(NONCE_BYTES)
        self._index = 0
        self._closed = False
        try:
            self._file.write(clear + wrap_nonce + AESGCM(kek).encrypt(wrap_nonce, data_key, clear))
            self._file.flush()
        except OSError:
            self.abandon()
            raise

    def write(self, data: bytes) -> None:
        """Seal ``data`` as the next chunk and hand it to the OS."""
        if data:
            self._chunk(data, final=False)

    def close(self) -> None:
        """Write the final (empty) chunk that marks the recording complete."""
        if self._closed:
            return
        self._closed = True
        self._chunk(b"", final=True)
        self._file.close()

    def abandon(self) -> None:
        """Close the file without the final chunk (the disk failed): it reads as truncated.

        Closing retries the failed flush, which fails again; the caller has the first error.
        """
        self._closed = True
        with contextlib.suppress(OSError):
            self._file.close()

    def _chunk(self, data: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), data, _chunk_aad(self._index, final))
        self._file.write(_LENGTH.pack(len(sealed)) + sealed)
        self._file.flush()
        self._index += 1


def open_recording(path: str | Path, keyring: Keyring | None) -> tuple[int, int, bytes]:
    """``(rate, channels, 16-bit PCM)`` of a sealed recording, or of a plain PCM WAV (an older
    recording, or a caller's audio given by a QA operator). Raises RecordingError."""
    file = Path(path)
    data = _read(file)
    if not data.startswith(MAGIC):
        return _read_wav(file)
    if keyring is None:
        raise RecordingError(f"{file}: sealed recording, and no {SETTING} is configured")
    rate, channels, key_id, body = _header(file, data)
    return (
        rate,
        channels,
        _open_chunks(file, _data_key(file, data, keyring, key_id, body), data, body),
    )


def probe(path: str | Path) -> tuple[int, int, int]:
    """``(rate, channels, frames)`` of a sealed recording or a PCM WAV, without any key: the
    length comes from the chunk framing, which is not secret (it is the file's size)."""
    file = Path(path)
    data = _read(file)
    if not data.startswith(MAGIC):
        rate, channels, pcm = _read_wav(file)
        return rate, channels, len(pcm) // (2 * channels)
    rate, channels, _, offset = _header(file, data)
    plain = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size + length
        plain += max(0, length - TAG_BYTES)
    return rate, channels, plain // (2 * channels)


class SealedReader:
    """A sealed recording read a chunk at a time, at any position: a player that seeks, or a
    waveform drawn over a long call, never holds the whole recording in memory.

    Opening reads the header and the chunk lengths (the framing, not secret). A recording that
    was never closed (the process died) reads up to its last whole chunk and says so
    (``complete`` is False); a chunk that fails authentication raises when it is read.
    Blocking (file reads and decryption): call it off the event loop.
    """

    def __init__(self, path: str | Path, keyring: Keyring) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = self.path.open("rb")
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot be read ({exc.strerror})") from exc
        try:
            self._open(keyring)
        except BaseException:
            self._file.close()
            raise

    def _open(self, keyring: Keyring) -> None:
        head = self._file.read(HEADER_MAX_BYTES)
        if not head.startswith(MAGIC):
            raise RecordingError(f"{self.path}: not a sealed recording")
        self.rate, self.channels, key_id, offset = _header(self.path, head)
        self._aead = _data_key(self.path, head, keyring, key_id, offset)
        self._chunks: list[tuple[int, int]] = []
        """(file offset, sealed length) of each audio chunk, in order."""
        self._starts: list[int] = []
        """Where each chunk's audio starts in the recording's PCM."""
        self.size = 0
        """Bytes of PCM that can be read."""
        self.complete = False
        end = self._file.seek(0, os.SEEK_END)
        while offset + _LENGTH.size <= end:
            self._file.seek(offset)
            (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
            start = offset + _LENGTH.size
            if length < TAG_BYTES or length > MAX_CHUNK_BYTES or start + length > end:
                break  # cut off mid-chunk: what came before still reads
            if start + length == end and self._final(len(self._chunks), start, length):
                self.complete = True
                break
            self._chunks.append((start, length))
            self._starts.append(self.size)
            self.size += length - TAG_BYTES
            offset = start + length

    @property
    def frames(self) -> int:
        return self.size // (SAMPLE_BYTES * self.channels)

    def read(self, start: int, count: int) -> bytes:
        """``count`` bytes of PCM from byte ``start`` (fewer at the end). Raises RecordingError."""
        out = bytearray()
        index = max(0, bisect.bisect_right(self._starts, start) - 1)
        while len(out) < count and index < len(self._chunks):
            plain = self.chunk(index)
            skip = max(0, start + len(out) - self._starts[index])
            out += plain[skip : skip + count - len(out)]
            index += 1
        return bytes(out)

    def pieces(self) -> Iterator[bytes]:
        """Every chunk's PCM in order: one pass over the recording. Raises RecordingError."""
        for index in range(len(self._chunks)):
            yield self.chunk(index)

    def chunk(self, index: int) -> bytes:
        """The PCM of audio chunk ``index``, authenticated. Raises RecordingError."""
        offset, length = self._chunks[index]
        self._file.seek(offset)
        try:
            return self._aead.decrypt(
                _nonce(index), self._file.read(length), _chunk_aad(index, False)
            )
        except InvalidTag:
            raise RecordingError(f"{self.path}: chunk {index} fails authentication") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SealedReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _final(self, index: int, offset: int, length: int) -> bool:
        """Whether the chunk at ``offset`` is the (empty) final chunk ``close()`` writes."""
        self._file.seek(offset)
        return _opens(self._aead, index, self._file.read(length), final=True)


def _data_key(file: Path, data: bytes, keyring: Keyring, key_id: str, body: int) -> AESGCM:
    """The recording's data key, unwrapped with the keyring's KEK its header names."""
    kek = keyring.kek(key_id)
    if kek is None:
        raise RecordingError(f"{file}: sealed with key {key_id!r}, which the keyring lacks")
    clear_end = body - NONCE_BYTES - 32 - TAG_BYTES
    try:
        data_key = AESGCM(kek).decrypt(
            data[clear_end : clear_end + NONCE_BYTES],
            data[clear_end + NONCE_BYTES : body],
            data[:clear_end],
        )
    except InvalidTag:
        raise RecordingError(f"{file}: header fails authentication (tampered)") from None
    return AESGCM(data_key)


def _header(file: Path, data: bytes) -> tuple[int, int, str, int]:
    """Rate, channels, KEK id, and where the chunks start."""
    if len(data) < len(MAGIC) + 2 or data[len(MAGIC)] != VERSION:
        raise RecordingError(f"{file}: sealed recording of an unknown version")
    id_length = data[len(MAGIC) + 1]
    offset = len(MAGIC) + 2 + id_length
    key_id = data[len(MAGIC) + 2 : offset].decode("ascii", errors="replace")
    if len(data) < offset + _FORMAT.size + NONCE_BYTES + 32 + TAG_BYTES:
        raise RecordingError(f"{file}: sealed recording cut off in its header")
    rate, channels, width = _FORMAT.unpack_from(data, offset)
    if width != 2 or channels < 1:
        raise RecordingError(f"{file}: sealed recording header names an unknown sample format")
    return rate, channels, key_id, offset + _FORMAT.size + NONCE_BYTES + 32 + TAG_BYTES


def _open_chunks(file: Path, aead: AESGCM, data: bytes, offset: int) -> bytes:
    pcm = bytearray()
    index = 0
    while True:
        if offset + _LENGTH.size > len(data):
            raise RecordingError(
                f"{file}: truncated after chunk {index} (the recording was never closed)"
            )
        (length,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        end = start + length
        if length < TAG_BYTES or length > MAX_CHUNK_BYTES or end > len(data):
            raise RecordingError(f"{file}: chunk {index} is cut off or damaged")
        sealed = data[start:end]
        last = end == len(data)
        try:
            plain = aead.decrypt(_nonce(index), sealed, _chunk_aad(index, last))
        except InvalidTag:
            if last and _opens(aead, index, sealed, final=False):
                raise RecordingError(
                    f"{file}: truncated after chunk {index + 1} (the recording was never closed)"
                ) from None
            raise RecordingError(f"{file}: chunk {index} fails authentication (tampered)") from None
        pcm += plain
        if last:
            return bytes(pcm)
        offset, index = end, index + 1


def _opens(aead: AESGCM, index: int, sealed: bytes, *, final: bool) -> bool:
    try:
        aead.decrypt(_nonce(index), sealed, _chunk_aad(index, final))
    except InvalidTag:
        return False
    return True


def _read_wav(file: Path) -> tuple[int, int, bytes]:
    try:
        with wave.open(str(file)) as src:
            width, channels, rate = src.getsampwidth(), src.getnchannels(), src.getframerate()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise RecordingError(f"{file}: not a readable PCM WAV file ({exc})") from exc
    if width != 2:
        raise RecordingError(f"{file}: {8 * width}-bit samples; 16-bit PCM WAV is read")
    return rate, channels, frames


def _nonce(index: int) -> bytes:
    return index.to_bytes(NONCE_BYTES, "big")


def _chunk_aad(index: int, final: bool) -> bytes:
    return index.to_bytes(8, "big") + bytes([final])


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{file}: cannot be read ({exc.strerror})") from exc
