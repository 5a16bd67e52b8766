"""A zip archive written front to back as a stream of bytes, in constant memory.

Why not ``zipfile``: it keeps a ``ZipInfo`` object per entry until the archive closes,
about 600 bytes each, so an export of 100,000 PNGs would hold some 60 MB. Here each
entry's central-directory record is spooled to a temporary file as soon as the entry is
written (the format puts the directory last). Readers (``zipfile``, ``np.load``,
``unzip``) see an ordinary archive; past 65,535 entries it ends with the zip64 records.
Archives are limited to 4 GiB (no zip64 per-entry sizes); an export is far below that.
"""

from __future__ import annotations

import struct
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_DESCRIPTOR = struct.Struct("<IIII")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_LIMIT = 0xFFFFFFFF
_UTF8 = 1 << 11
_DESCRIPTOR_FOLLOWS = 1 << 3
STORED, DEFLATED = 0, 8
#: A chunk that flushes a compressed entry (``ZipStream.entry``).
KEEP_ALIVE = b""


class ZipTooLarge(ValueError):
    """The archive passed 4 GiB, which this writer does not support."""


class ZipStream:
    """Yields an archive's bytes entry by entry: ``file`` or ``entry``, then ``finish``."""

    def __init__(self) -> None:
        self.offset = 0
        self.count = 0
        # The central directory (about 100 B an entry) spills to disk past 64 KB: held in
        # memory up to 256 KB, it made a 3,000-sample export's peak depend on its size.
        self.directory = tempfile.SpooledTemporaryFile(max_size=1 << 16)  # noqa: SIM115
        now = time.localtime()
        self.time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
        self.date = (now.tm_year - 1980) << 9 | now.tm_mon << 5 | now.tm_mday

    def _emit(self, data: bytes) -> bytes:
        self.offset += len(data)
        if self.offset > _LIMIT:
            raise ZipTooLarge("the archive passed 4 GiB; export a filtered part instead")
        return data

    def _remember(
        self, name: bytes, flags: int, method: int, crc: int, sizes: tuple[int, int], offset: int
    ) -> None:
        self.directory.write(
            _CENTRAL.pack(
                0x02014B50,
                3 << 8 | 20,
                20,
                flags,
                method,
                self.time,
                self.date,
                crc,
                sizes[0],
                sizes[1],
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
        self.count += 1

    def file(self, name: str, data: bytes) -> bytes:
        """A whole entry, stored as is (PNGs are compressed already)."""
        raw, crc, offset = name.encode(), zlib.crc32(data), self.offset
        header = _LOCAL.pack(
            0x04034B50,
            20,
            _UTF8,
            STORED,
            self.time,
            self.date,
            crc,
            len(data),
            len(data),
            len(raw),
            0,
        )
        out = self._emit(header + raw + data)
        self._remember(raw, _UTF8, STORED, crc, (len(data), len(data)), offset)
        return out

    def entry(self, name: str, chunks: Iterable[bytes], compress: bool) -> Iterator[bytes]:
        """An entry whose size is known only at its end (a CSV, an array), piece by piece.

        In a compressed entry an empty chunk (``KEEP_ALIVE``) flushes the compressor: a few
        bytes that add nothing to the file but keep a response moving while the next
        chunk takes long to make. In a stored entry it is skipped.
        """
        raw, offset = name.encode(), self.offset
        flags, method = _UTF8 | _DESCRIPTOR_FOLLOWS, DEFLATED if compress else STORED
        yield self._emit(
            _LOCAL.pack(0x04034B50, 20, flags, method, self.time, self.date, 0, 0, 0, len(raw), 0)
            + raw
        )
        crc, size, written = 0, 0, 0
        # A 4 KB window and a small hash table: about 20 KB of zlib state instead of 256 KB,
        # so an export's memory stays flat; the compressed entries are small and repetitive.
        packer = zlib.compressobj(6, zlib.DEFLATED, -12, 3) if compress else None
        for chunk in chunks:
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            if packer:
                out = packer.compress(chunk) if chunk else packer.flush(zlib.Z_SYNC_FLUSH)
            else:
                out = chunk
            if out:
                written += len(out)
                yield self._emit(out)
        if packer:
            tail = packer.flush()
            written += len(tail)
            yield self._emit(tail)
        yield self._emit(_DESCRIPTOR.pack(0x08074B50, crc, written, size))
        self._remember(raw, flags, method, crc, (written, size), offset)

    def finish(self) -> Iterator[bytes]:
        """The central directory (read back from its spool file), then the end records."""
        start = self.offset
        self.directory.seek(0)
        while block := self.directory.read(1 << 16):
            yield self._emit(block)
        self.directory.close()
        size = self.offset - start
        if self.count > 0xFFFF:
            end64 = self.offset
            yield self._emit(
                _END64.pack(0x06064B50, 44, 45, 45, 0, 0, self.count, self.count, size, start)
            )
            yield self._emit(_LOCATOR64.pack(0x07064B50, 0, end64, 1))
        entries = min(self.count, 0xFFFF)
        yield self._emit(_END.pack(0x06054B50, 0, 0, entries, entries, size, start, 0))
