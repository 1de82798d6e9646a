"""The byte cursor under both Thrift decoders: bounds, container-count limits and the whole-struct rule.

``binary`` and ``compact`` read their own primitives (big-endian words, varints) and structs, but never
reading past the end, bounding forged container counts by :class:`DecodeLimits` and by the bytes left, and
insisting that a bare struct spans its input exactly do not depend on the encoding, so they live here once.
"""

from __future__ import annotations

from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import DecodeLimits, Struct


class ByteReader:
    """A position in an immutable buffer; codecs subclass it and implement :meth:`struct`."""

    __slots__ = ("_buf", "_limits", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview, limits: DecodeLimits) -> None:
        self._buf = data if isinstance(data, bytes) else bytes(data)
        self._pos = 0
        self._limits = limits

    @property
    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def take(self, n: int) -> bytes:
        if n < 0:
            raise ThriftDecodeError(f"negative length {n} at offset {self._pos}")
        if n > self.remaining:
            raise ThriftDecodeError(
                f"truncated: {n} bytes needed at offset {self._pos}, {self.remaining} left"
            )
        start = self._pos
        self._pos += n
        return self._buf[start : self._pos]

    def check_count(self, what: str, n: int, min_bytes_each: int) -> None:
        """Refuse a container of ``n`` items beyond ``max_items`` or too many to fit in the bytes left."""
        if n > self._limits.max_items:
            raise ThriftDecodeError(f"{what} of {n} items exceeds the limit of {self._limits.max_items}")
        if n * min_bytes_each > self.remaining:
            raise ThriftDecodeError(f"{what} of {n} items cannot fit in the {self.remaining} bytes left")

    def struct(self, depth: int) -> Struct:
        raise NotImplementedError

    def whole_struct(self) -> Struct:
        """A bare struct that must span the buffer exactly."""
        result = self.struct(1)
        if self.remaining:
            raise ThriftDecodeError(f"{self.remaining} bytes after the struct")
        return result
