"""Protobuf wire primitives and a small declarative message codec for the PLANET/Cassini schema.

LINE's native client (protobuf-c) and the relay speak plain protobuf, but there is no ``.proto`` to
compile, so linecall describes every message as a frozen dataclass whose fields carry their protobuf
field number and kind (see :func:`pb`). This module holds the two layers that makes work:

* wire primitives: varints, keys, fixed32/64, length-delimited fields, a :class:`Writer` and a strict
  reader (:func:`iter_fields`) that raises :class:`ProtoDecodeError` on truncated fields, over-long
  varints (more than 10 bytes, or more than 64 bits), field number 0 and unknown wire types;
* :class:`FieldSet` accessors with protobuf's merge rule (the last copy of a non-repeated field wins;
  repeated scalars are accepted packed or unpacked) and the generic :func:`encode_message` /
  :func:`decode_message` driven by the dataclass declarations.

Encoding rules are the native ones linejs reproduces: fields in ascending field-number order, one key per
repeated element (never packed), a field is written whenever its value is not ``None`` (so ``False``, ``0``
and ``""`` are written), except where a declaration names an ``omit`` value (e.g. an empty ``sess_id``).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from enum import Enum, IntEnum
from typing import Any, Self, TypeVar, cast

from linecall.protocol.planet.errors import ProtoDecodeError

UINT64_MAX = (1 << 64) - 1
UINT32_MAX = (1 << 32) - 1
MAX_VARINT_LEN = 10
MAX_FIELD_NUMBER = (1 << 29) - 1


class WireType(IntEnum):
    VARINT = 0
    FIXED64 = 1
    LEN = 2
    FIXED32 = 5


_WIRE_TYPES = frozenset(int(w) for w in WireType)


# ─── primitives ──────────────────────────────────────────────────────────────────────────────────


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 of ``value`` (0 ≤ value < 2**64); anything else is a programming error."""
    if value < 0 or value > UINT64_MAX:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Read one varint at ``offset``; return ``(value, next_offset)``.

    Raises ProtoDecodeError when the input ends before the terminating byte, when the varint runs past
    10 bytes, or when its value does not fit in 64 bits (the 10th byte may only carry bit 63).
    """
    value = 0
    shift = 0
    pos = offset
    end = len(data)
    while True:
        if pos >= end:
            raise ProtoDecodeError("truncated varint")
        if pos - offset >= MAX_VARINT_LEN:
            raise ProtoDecodeError("varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    if value > UINT64_MAX:
        raise ProtoDecodeError("varint overflows 64 bits")
    return value, pos


def encode_key(number: int, wire_type: WireType) -> bytes:
    if not 1 <= number <= MAX_FIELD_NUMBER:
        raise ValueError(f"field number out of range: {number}")
    return encode_varint((number << 3) | wire_type)


def encode_fixed64(value: int) -> bytes:
    """8 bytes little-endian; accepts signed (sfixed64) and unsigned (fixed64) ranges."""
    if not -(1 << 63) <= value <= UINT64_MAX:
        raise ValueError(f"fixed64 out of range: {value}")
    return (value & UINT64_MAX).to_bytes(8, "little")


def encode_fixed32(value: int) -> bytes:
    if not -(1 << 31) <= value <= UINT32_MAX:
        raise ValueError(f"fixed32 out of range: {value}")
    return (value & UINT32_MAX).to_bytes(4, "little")


def encode_float32(value: float) -> bytes:
    return struct.pack("<f", value)


def to_signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# ─── writer ──────────────────────────────────────────────────────────────────────────────────────


class Writer:
    """Appends protobuf fields in call order; callers keep ascending field numbers."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def uint(self, number: int, value: int) -> Writer:
        self._buf += encode_key(number, WireType.VARINT)
        self._buf += encode_varint(value)
        return self

    def boolean(self, number: int, value: bool) -> Writer:
        return self.uint(number, 1 if value else 0)

    def blob(self, number: int, value: bytes) -> Writer:
        self._buf += encode_key(number, WireType.LEN)
        self._buf += encode_varint(len(value))
        self._buf += value
        return self

    def string(self, number: int, value: str) -> Writer:
        return self.blob(number, value.encode("utf-8"))

    def fixed64(self, number: int, value: int) -> Writer:
        self._buf += encode_key(number, WireType.FIXED64)
        self._buf += encode_fixed64(value)
        return self

    def fixed32(self, number: int, value: int) -> Writer:
        self._buf += encode_key(number, WireType.FIXED32)
        self._buf += encode_fixed32(value)
        return self

    def float32(self, number: int, value: float) -> Writer:
        self._buf += encode_key(number, WireType.FIXED32)
        self._buf += encode_float32(value)
        return self

    def getvalue(self) -> bytes:
        return bytes(self._buf)


# ─── strict reader ───────────────────────────────────────────────────────────────────────────────


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One decoded field: VARINT/FIXED64/FIXED32 values are unsigned ints, LEN values are bytes."""

    number: int
    wire_type: WireType
    value: int | bytes


def iter_fields(data: bytes | memoryview) -> Iterator[Field]:
    """Yield the fields of one message in wire order; raise ProtoDecodeError on any malformation."""
    view = memoryview(data)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = decode_varint(view, pos)
        number = key >> 3
        wire = key & 7
        if number == 0 or number > MAX_FIELD_NUMBER:
            raise ProtoDecodeError(f"invalid field number {number}")
        if wire not in _WIRE_TYPES:
            raise ProtoDecodeError(f"unsupported wire type {wire} (field {number})")
        wire_type = WireType(wire)
        value: int | bytes
        if wire_type is WireType.VARINT:
            value, pos = decode_varint(view, pos)
        elif wire_type is WireType.LEN:
            length, pos = decode_varint(view, pos)
            if length > end - pos:
                raise ProtoDecodeError(f"truncated length-delimited field {number}")
            value = bytes(view[pos : pos + length])
            pos += length
        else:
            size = 8 if wire_type is WireType.FIXED64 else 4
            if size > end - pos:
                raise ProtoDecodeError(f"truncated fixed{size * 8} field {number}")
            value = int.from_bytes(view[pos : pos + size], "little")
            pos += size
        yield Field(number, wire_type, value)


def read_fields(data: bytes | memoryview) -> list[Field]:
    return list(iter_fields(data))


def _decode_utf8(raw: bytes, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoDecodeError(f"field {number} is not valid UTF-8") from exc


def _unpack_varints(raw: bytes) -> list[int]:
    out: list[int] = []
    pos = 0
    while pos < len(raw):
        value, pos = decode_varint(raw, pos)
        out.append(value)
    return out


class FieldSet:
    """Fields of one message grouped by number, read with protobuf's merge rules.

    Non-repeated accessors return the LAST copy of a field (linejs takes the first); a copy of the wrong
    wire type is an error, as in protobuf-c, which LINE's native stack uses.
    """

    __slots__ = ("_by_number", "fields")

    def __init__(self, fields: list[Field]) -> None:
        self.fields = fields
        self._by_number: dict[int, list[Field]] = {}
        for f in fields:
            self._by_number.setdefault(f.number, []).append(f)

    @classmethod
    def parse(cls, data: bytes | memoryview) -> FieldSet:
        return cls(read_fields(data))

    def has(self, number: int) -> bool:
        return number in self._by_number

    def _last(self, number: int, wire_type: WireType) -> Field | None:
        copies = self._by_number.get(number)
        if not copies:
            return None
        for f in copies:
            if f.wire_type is not wire_type:
                raise ProtoDecodeError(f"field {number}: wire type {f.wire_type.name}, want {wire_type.name}")
        return copies[-1]

    def uint(self, number: int) -> int | None:
        f = self._last(number, WireType.VARINT)
        return None if f is None else cast(int, f.value)

    def boolean(self, number: int) -> bool | None:
        value = self.uint(number)
        return None if value is None else value != 0

    def blob(self, number: int) -> bytes | None:
        f = self._last(number, WireType.LEN)
        return None if f is None else cast(bytes, f.value)

    def string(self, number: int) -> str | None:
        raw = self.blob(number)
        return None if raw is None else _decode_utf8(raw, number)

    def fixed64(self, number: int) -> int | None:
        f = self._last(number, WireType.FIXED64)
        return None if f is None else cast(int, f.value)

    def sfixed64(self, number: int) -> int | None:
        value = self.fixed64(number)
        return None if value is None else to_signed64(value)

    def float32(self, number: int) -> float | None:
        f = self._last(number, WireType.FIXED32)
        if f is None:
            return None
        return float(struct.unpack("<f", cast(int, f.value).to_bytes(4, "little"))[0])

    def repeated_uint(self, number: int) -> tuple[int, ...]:
        """Every element in order; packed runs (one LEN field of varints) are accepted as well."""
        out: list[int] = []
        for f in self._by_number.get(number, ()):
            if f.wire_type is WireType.VARINT:
                out.append(cast(int, f.value))
            elif f.wire_type is WireType.LEN:
                out.extend(_unpack_varints(cast(bytes, f.value)))
            else:
                raise ProtoDecodeError(f"field {number}: wire type {f.wire_type.name} for a repeated varint")
        return tuple(out)

    def repeated_blob(self, number: int) -> tuple[bytes, ...]:
        out: list[bytes] = []
        for f in self._by_number.get(number, ()):
            if f.wire_type is not WireType.LEN:
                raise ProtoDecodeError(f"field {number}: wire type {f.wire_type.name}, want LEN")
            out.append(cast(bytes, f.value))
        return tuple(out)

    def repeated_string(self, number: int) -> tuple[str, ...]:
        return tuple(_decode_utf8(raw, number) for raw in self.repeated_blob(number))


# ─── declarative messages ────────────────────────────────────────────────────────────────────────


class Kind(Enum):
    """How a dataclass field maps onto the wire."""

    UINT = "uint"  # varint, unsigned (uint32/uint64/enum)
    BOOL = "bool"  # varint 0/1
    STRING = "string"  # LEN, UTF-8
    BYTES = "bytes"  # LEN, raw (also nested messages kept opaque)
    MESSAGE = "message"  # LEN, a nested ProtoMessage subclass
    FIXED64 = "fixed64"  # 8 bytes LE, decoded unsigned
    SFIXED64 = "sfixed64"  # 8 bytes LE, decoded signed
    FLOAT32 = "float32"  # 4 bytes LE IEEE-754


_OMIT_NOTHING: Any = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    number: int
    kind: Kind
    repeated: bool
    message: type[ProtoMessage] | None
    omit: Any


def pb(
    number: int,
    kind: Kind,
    message: type[ProtoMessage] | None = None,
    *,
    default: Any = None,
    omit: Any = _OMIT_NOTHING,
) -> Any:
    """Declare a non-repeated protobuf field: written unless ``None`` (or equal to ``omit``)."""
    meta = {"pb": (number, kind, False, message, omit)}
    return dataclasses.field(default=default, metadata=meta)


def pb_repeated(number: int, kind: Kind, message: type[ProtoMessage] | None = None) -> Any:
    """Declare a repeated field (a tuple, default empty): one key per element, never packed."""
    meta = {"pb": (number, kind, True, message, _OMIT_NOTHING)}
    return dataclasses.field(default=(), metadata=meta)


_SCHEMAS: dict[type[Any], tuple[_Spec, ...]] = {}


def _schema(cls: type[Any]) -> tuple[_Spec, ...]:
    cached = _SCHEMAS.get(cls)
    if cached is not None:
        return cached
    specs: list[_Spec] = []
    for f in dataclasses.fields(cls):
        if "pb" not in f.metadata:
            continue
        number, kind, repeated, message, omit = f.metadata["pb"]
        if kind is Kind.MESSAGE and message is None:
            raise TypeError(f"{cls.__name__}.{f.name}: MESSAGE field needs a message type")
        specs.append(_Spec(f.name, number, kind, repeated, message, omit))
    specs.sort(key=lambda s: s.number)
    result = tuple(specs)
    _SCHEMAS[cls] = result
    return result


def _write_one(w: Writer, spec: _Spec, value: Any) -> None:
    kind = spec.kind
    if kind is Kind.UINT:
        w.uint(spec.number, int(value))
    elif kind is Kind.BOOL:
        w.boolean(spec.number, bool(value))
    elif kind is Kind.STRING:
        w.string(spec.number, value)
    elif kind is Kind.BYTES:
        w.blob(spec.number, bytes(value))
    elif kind is Kind.MESSAGE:
        w.blob(spec.number, encode_message(value))
    elif kind is Kind.FIXED64 or kind is Kind.SFIXED64:
        w.fixed64(spec.number, int(value))
    else:
        w.float32(spec.number, float(value))


def encode_message(obj: Any) -> bytes:
    """Encode a declared dataclass instance in ascending field-number order."""
    w = Writer()
    for spec in _schema(type(obj)):
        value = getattr(obj, spec.name)
        if spec.repeated:
            for item in value:
                _write_one(w, spec, item)
        elif value is not None and (spec.omit is _OMIT_NOTHING or value != spec.omit):
            _write_one(w, spec, value)
    return w.getvalue()


def _read_one(fs: FieldSet, spec: _Spec) -> Any:
    n = spec.number
    kind = spec.kind
    if spec.repeated:
        if kind is Kind.UINT:
            return fs.repeated_uint(n)
        if kind is Kind.BOOL:
            return tuple(v != 0 for v in fs.repeated_uint(n))
        if kind is Kind.STRING:
            return fs.repeated_string(n)
        if kind is Kind.BYTES:
            return fs.repeated_blob(n)
        if kind is Kind.MESSAGE:
            assert spec.message is not None
            return tuple(decode_message(spec.message, raw) for raw in fs.repeated_blob(n))
        raise TypeError(f"repeated {kind} is not supported")
    if kind is Kind.UINT:
        return fs.uint(n)
    if kind is Kind.BOOL:
        return fs.boolean(n)
    if kind is Kind.STRING:
        return fs.string(n)
    if kind is Kind.BYTES:
        return fs.blob(n)
    if kind is Kind.MESSAGE:
        raw = fs.blob(n)
        assert spec.message is not None
        return None if raw is None else decode_message(spec.message, raw)
    if kind is Kind.FIXED64:
        return fs.fixed64(n)
    if kind is Kind.SFIXED64:
        return fs.sfixed64(n)
    return fs.float32(n)


M = TypeVar("M", bound="ProtoMessage")


def decode_message(cls: type[M], data: bytes | memoryview) -> M:
    """Decode ``data`` into ``cls``; absent fields keep their declared defaults, unknown ones are skipped."""
    fs = FieldSet.parse(data)
    kwargs: dict[str, Any] = {}
    for spec in _schema(cls):
        if not fs.has(spec.number):
            continue
        kwargs[spec.name] = _read_one(fs, spec)
    return cls(**kwargs)


class ProtoMessage:
    """Mixin for declared dataclasses: ``encode()`` and the ``decode(data)`` classmethod."""

    __slots__ = ()

    def encode(self) -> bytes:
        return encode_message(self)

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Self:
        return decode_message(cls, data)


__all__ = [
    "MAX_VARINT_LEN",
    "UINT32_MAX",
    "UINT64_MAX",
    "Field",
    "FieldSet",
    "Kind",
    "ProtoDecodeError",
    "ProtoMessage",
    "WireType",
    "Writer",
    "decode_message",
    "decode_varint",
    "encode_fixed32",
    "encode_fixed64",
    "encode_float32",
    "encode_key",
    "encode_message",
    "encode_varint",
    "iter_fields",
    "pb",
    "pb_repeated",
    "read_fields",
    "to_signed64",
]
