"""Disk cache of synthesised prompts, so fixed prompts are synthesised once and then read from disk.

Each entry is one sentence of audio at one output rate, in a file named by the sha256 of its
key (text, engine, voice, voice revision, speaking rate, sample rate). Files are ordinary mono
16-bit WAVs with one extra RIFF chunk (``ivrk``) holding the key's digest and the sha256 of the
samples, so a truncated or damaged file is detected on read, removed, and synthesised again.
Writers write a private temporary file and rename it into place, so concurrent writers (threads
or processes) and readers never see a partial file. The text itself is not stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from logfields import fields
from speech.audio import Audio, pcm_to_samples
from speech.tts.base import TtsEngine

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped when the file layout or the meaning of a key changes; old entries are then ignored."""
SUFFIX = ".wav"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 600.0
_KEY_CHUNK = b"ivrk"
_FMT = struct.Struct("<HHIIHH")


class CorruptEntry(ValueError):
    """A cache file that does not hold what its name promises."""


@dataclass(frozen=True)
class PromptKey:
    """Everything that determines the audio of one cached sentence."""

    text: str
    """Normalised sentence text as given to the engine."""
    engine: str
    voice: str
    revision: str
    """Voice model revision (changes when the model file changes)."""
    speaking_rate: float
    rate: int
    """Output sample rate in Hz."""

    @classmethod
    def for_engine(cls, engine: TtsEngine, text: str, rate: int) -> PromptKey:
        return cls(text, engine.name, engine.voice, engine.revision, engine.speaking_rate, rate)

    def digest(self) -> bytes:
        payload = json.dumps(
            [
                CACHE_FORMAT,
                self.text,
                self.engine,
                self.voice,
                self.revision,
                round(self.speaking_rate, 4),
                self.rate,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).digest()


@dataclass
class CacheStats:
    """Counters since the cache object was created."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    """Entries found damaged, removed and treated as misses."""
    evictions: int = 0
    write_errors: int = 0


def encode_entry(key: PromptKey, audio: Audio) -> bytes:
    """The bytes of a cache file: a mono 16-bit WAV with the key and checksum chunk."""
    pcm = audio.pcm
    fmt = _FMT.pack(1, 1, audio.rate, audio.rate * 2, 2, 16)
    check = key.digest() + hashlib.sha256(pcm).digest()
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + _KEY_CHUNK
        + struct.pack("<I", len(check))
        + check
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode_entry(data: bytes, key: PromptKey) -> Audio:
    """Parse and verify a cache file; raises ``CorruptEntry`` saying what is wrong."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise CorruptEntry("not a RIFF/WAVE file")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size != len(data) - 8:
        raise CorruptEntry(f"RIFF size {riff_size} does not match file size {len(data)}")
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        name = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        start = offset + 8
        if start + size > len(data):
            raise CorruptEntry(f"chunk {name!r} runs past the end of the file")
        chunks[name] = data[start : start + size]
        offset = start + size + (size & 1)
    if offset != len(data):
        raise CorruptEntry("trailing bytes after the last chunk")
    for required in (b"fmt ", _KEY_CHUNK, b"data"):
        if required not in chunks:
            raise CorruptEntry(f"missing {required.decode()!r} chunk")
    if len(chunks[b"fmt "]) != _FMT.size:
        raise CorruptEntry("unexpected fmt chunk size")
    tag, channels, rate, _, _, bits = _FMT.unpack(chunks[b"fmt "])
    if (tag, channels, bits) != (1, 1, 16):
        raise CorruptEntry("not mono 16-bit PCM")
    if rate != key.rate:
        raise CorruptEntry(f"rate {rate} Hz, expected {key.rate} Hz")
    check = chunks[_KEY_CHUNK]
    pcm = chunks[b"data"]
    if len(check) != 64 or check[:32] != key.digest():
        raise CorruptEntry("entry belongs to a different key")
    if hashlib.sha256(pcm).digest() != check[32:]:
        raise CorruptEntry("sample checksum mismatch")
    if not pcm:
        raise CorruptEntry("no samples")
    return Audio(pcm_to_samples(pcm), rate)


class PromptCache:
    """Content-addressed directory of synthesised sentences, optionally bounded in size (LRU)."""

    def __init__(self, directory: str | Path, max_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes if max_bytes and max_bytes > 0 else None
        self._stats = CacheStats()
        self._lock = threading.Lock()
        self._approx_bytes: int | None = None

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(**vars(self._stats))

    def path_for(self, key: PromptKey) -> Path:
        name = key.digest().hex()
        return self.directory / name[:2] / (name + SUFFIX)

    def get(self, key: PromptKey) -> Audio | None:
        """The cached audio for ``key``, or None on a miss (a damaged entry is removed)."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._count("misses")
            return None
        except OSError as exc:
            log.warning("tts.cache.read_failed", extra=fields(path=str(path), error=str(exc)))
            self._count("misses")
            return None
        try:
            audio = decode_entry(data, key)
        except CorruptEntry as exc:
            log.warning("tts.cache.corrupt", extra=fields(path=str(path), reason=str(exc)))
            self._count("corrupt", "misses")
            self._unlink(path)
            return None
        if self.max_bytes is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # mark as recently used for eviction
        self._count("hits")
        return audio

    def put(self, key: PromptKey, audio: Audio) -> None:
        """Store ``audio`` for ``key`` atomically (temporary file, then rename). Raises OSError."""
        if audio.rate != key.rate:
            raise ValueError(f"audio at {audio.rate} Hz stored under a {key.rate} Hz key")
        path = self.path_for(key)
        data = encode_entry(key, audio)
        _owner_only_folders(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=SUFFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            self._unlink(Path(tmp))
            raise
        self._count("writes")
        if self.max_bytes is not None:
            self._account(len(data))

    def store(self, key: PromptKey, audio: Audio) -> bool:
        """``put`` for the call path: a full or read-only disk is logged and counted, not raised."""
        try:
            self.put(key, audio)
        except OSError as exc:
            self._count("write_errors")
            log.warning(
                "tts.cache.write_failed",
                extra=fields(directory=str(self.directory), error=str(exc)),
            )
            return False
        return True

    def entries(self) -> Iterator[Path]:
        """Every entry file currently in the cache."""
        if not self.directory.is_dir():
            return
        for sub in self.directory.iterdir():
            if sub.is_dir():
                yield from (p for p in sub.iterdir() if p.suffix == SUFFIX and not _is_tmp(p))

    def size_bytes(self) -> int:
        total = 0
        for path in self.entries():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def evict(self) -> int:
        """Remove least recently used entries until the cache is within 90% of ``max_bytes``."""
        if self.max_bytes is None:
            return 0
        files: list[tuple[float, int, Path]] = []
        now = time.time()
        for sub in self.directory.iterdir() if self.directory.is_dir() else ():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if _is_tmp(path):
                    if now - st.st_mtime > _STALE_TMP_S:  # left by a crashed writer
                        self._unlink(path)
                    continue
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        removed = 0
        if total > self.max_bytes:
            target = int(self.max_bytes * 0.9)
            for _, size, path in sorted(files):
                if total <= target:
                    break
                self._unlink(path)
                total -= size
                removed += 1
        with self._lock:
            self._approx_bytes = total
            self._stats.evictions += removed
        if removed:
            log.info("tts.cache.evicted", extra=fields(files=removed, bytes=total))
        return removed

    def _account(self, added: int) -> None:
        with self._lock:
            if self._approx_bytes is not None:
                self._approx_bytes += added
            over = self._approx_bytes is None or (
                self.max_bytes is not None and self._approx_bytes > self.max_bytes
            )
        if over:
            self.evict()

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self._stats, name, getattr(self._stats, name) + 1)

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("tts.cache.unlink_failed", extra=fields(path=str(path), error=str(exc)))


def _is_tmp(path: Path) -> bool:
    return path.name.startswith(_TMP_PREFIX)


class CachedTts(TtsEngine):
    """An engine whose ``render`` serves each sentence from a ``PromptCache`` when it can."""

    def __init__(self, inner: TtsEngine, cache: PromptCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.voice = inner.voice
        self.native_rate = inner.native_rate
        self.speaking_rate = inner.speaking_rate

    @property
    def revision(self) -> str:
        return self.inner.revision

    def synthesize(self, text: str) -> Iterator[Audio]:
        return self.inner.synthesize(text)

    def render(self, text: str, rate: int, *, cacheable: bool = True) -> Audio:
        if not cacheable:
            return self.inner.render(text, rate, cacheable=False)
        key = PromptKey.for_engine(self.inner, text, rate)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        audio = self.inner.render(text, rate)
        if len(audio.samples):
            self.cache.store(key, audio)
        return audio

    def warm_up(self) -> None:
        self.inner.warm_up()


def _owner_only_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents owner-only (rwx------): the cache holds the
    bot's voice saying things to callers. Entries are owner-only already (``mkstemp``)."""
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            with contextlib.suppress(FileExistsError):  # another thread made it just now
                parent.mkdir(mode=0o700)
