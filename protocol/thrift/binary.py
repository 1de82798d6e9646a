"""Thrift binary protocol (TBinaryProtocol, strict header), over the same value model as ``compact``.

linecall's own paths are compact; binary exists for the TalkService mirrors ``/S3`` and ``/SYNC3``
(talk-map §1.2, the example/legy combination) and the password-login endpoints. linejs writes the strict
header ``80 01 00 01 <u32 name length> <name> <i32 seqid 0>`` and, as in compact, one surplus ``00`` after a
non-empty args struct (an empty one is that single byte): :func:`encode_call` does the same.

Decoding accepts the strict header and the old non-strict one (name first, then a type byte), ignores
bytes after the message's struct, and raises :class:`ThriftDecodeError` for anything malformed.
"""

from __future__ import annotations

import struct as _struct

from linecall.protocol.thrift.errors import ThriftDecodeError, ThriftEncodeError
from linecall.protocol.thrift.reader import ByteReader
from linecall.protocol.thrift.values import (
    DEFAULT_LIMITS,
    I16,
    I32,
    I64,
    Binary,
    Bool,
    Byte,
    DecodeLimits,
    Double,
    MessageType,
    Struct,
    TList,
    TMap,
    TMessage,
    TSet,
    TType,
    Value,
    decode_text,
)

VERSION_1 = 0x80010000
_VERSION_MASK = 0xFFFF0000

_I16 = _struct.Struct(">h")
_I32 = _struct.Struct(">i")
_I64 = _struct.Struct(">q")
_DOUBLE = _struct.Struct(">d")

# The fewest bytes one element of each type occupies; bounds forged container counts.
_MIN_SIZE: dict[TType, int] = {
    TType.BOOL: 1,
    TType.BYTE: 1,
    TType.I16: 2,
    TType.I32: 4,
    TType.I64: 8,
    TType.DOUBLE: 8,
    TType.STRING: 4,
    TType.STRUCT: 1,
    TType.MAP: 6,
    TType.SET: 5,
    TType.LIST: 5,
}


# ---------------------------------------------------------------------------------------------- encoding


def _write_value(value: Value, out: bytearray) -> None:
    if isinstance(value, Bool):
        out.append(1 if value.value else 0)
    elif isinstance(value, Byte):
        out.append(value.value & 0xFF)
    elif isinstance(value, I16):
        out += _I16.pack(value.value)
    elif isinstance(value, I32):
        out += _I32.pack(value.value)
    elif isinstance(value, I64):
        out += _I64.pack(value.value)
    elif isinstance(value, Double):
        out += _DOUBLE.pack(value.value)
    elif isinstance(value, Binary):
        out += _I32.pack(len(value.value))
        out += value.value
    elif isinstance(value, Struct):
        _write_struct(value, out)
    elif isinstance(value, TList | TSet):
        out.append(int(value.etype))
        out += _I32.pack(len(value.items))
        for item in value.items:
            _write_value(item, out)
    elif isinstance(value, TMap):
        out += bytes((int(value.ktype), int(value.vtype)))
        out += _I32.pack(len(value.items))
        for k, v in value.items:
            _write_value(k, out)
            _write_value(v, out)
    else:  # pragma: no cover - Value is a closed union
        raise ThriftEncodeError(f"not a Thrift value: {value!r}")


def _write_struct(value: Struct, out: bytearray) -> None:
    for fid, item in value.fields.items():
        out.append(int(item.ttype))
        out += _I16.pack(fid)
        _write_value(item, out)
    out.append(0)


def encode_struct(value: Struct) -> bytes:
    """The binary bytes of ``value``: its fields in mapping order, then the STOP byte."""
    out = bytearray()
    _write_struct(value, out)
    return bytes(out)


def _header(name: str, mtype: MessageType, seqid: int) -> bytearray:
    encoded = name.encode("utf-8")
    out = bytearray(_I32.pack((VERSION_1 | int(mtype)) - (1 << 32)))
    out += _I32.pack(len(encoded))
    out += encoded
    out += _I32.pack(seqid)
    return out


def encode_message(message: TMessage) -> bytes:
    """A standard strict binary message: header, then the struct (no surplus byte)."""
    out = _header(message.name, message.type, message.seqid)
    _write_struct(message.body, out)
    return bytes(out)


def encode_call(name: str, args: Struct) -> bytes:
    """A CALL exactly as linejs frames it: strict header (seqid 0), args fields, STOP, one surplus ``00``."""
    out = _header(name, MessageType.CALL, 0)
    if args.fields:
        _write_struct(args, out)
    out.append(0)
    return bytes(out)


# ---------------------------------------------------------------------------------------------- decoding


def _no_stop_elements(etype: TType, size: int) -> None:
    # STOP is tolerated as the element type of an empty container only (what a compact empty map decodes to).
    if etype == TType.STOP and size:
        raise ThriftDecodeError("container of STOP elements")


class _Reader(ByteReader):
    __slots__ = ()

    def byte(self) -> int:
        return self.take(1)[0]

    def i16(self) -> int:
        return int(_I16.unpack(self.take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self.take(4))[0])

    def ttype(self, allow_stop: bool = False) -> TType:
        b = self.byte()
        try:
            tt = TType(b)
        except ValueError:
            raise ThriftDecodeError(f"bad type id {b} at offset {self._pos - 1}") from None
        if tt == TType.STOP and not allow_stop:
            raise ThriftDecodeError(f"STOP used as an element type at offset {self._pos - 1}")
        return tt

    def count(self, what: str, min_bytes_each: int) -> int:
        n = self.i32()
        if n < 0:
            raise ThriftDecodeError(f"negative {what} size {n}")
        self.check_count(what, n, min_bytes_each)
        return n

    def value(self, ttype: TType, depth: int) -> Value:
        if ttype == TType.BOOL:
            b = self.byte()
            if b > 1:
                raise ThriftDecodeError(f"bad boolean byte {b:#04x} at offset {self._pos - 1}")
            return Bool(b == 1)
        if ttype == TType.BYTE:
            b = self.byte()
            return Byte(b - 256 if b > 127 else b)
        if ttype == TType.I16:
            return I16(self.i16())
        if ttype == TType.I32:
            return I32(self.i32())
        if ttype == TType.I64:
            return I64(int(_I64.unpack(self.take(8))[0]))
        if ttype == TType.DOUBLE:
            return Double(float(_DOUBLE.unpack(self.take(8))[0]))
        if ttype == TType.STRING:
            return Binary(self.take(self.i32()))
        if depth >= self._limits.max_depth:
            raise ThriftDecodeError(f"nesting deeper than {self._limits.max_depth}")
        if ttype == TType.STRUCT:
            return self.struct(depth + 1)
        if ttype in (TType.LIST, TType.SET):
            etype = self.ttype(allow_stop=True)
            size = self.count(ttype.name, _MIN_SIZE.get(etype, 1))
            _no_stop_elements(etype, size)
            items = tuple(self.value(etype, depth + 1) for _ in range(size))
            return TList(etype, items) if ttype == TType.LIST else TSet(etype, items)
        if ttype == TType.MAP:
            ktype = self.ttype(allow_stop=True)
            vtype = self.ttype(allow_stop=True)
            size = self.count("MAP", _MIN_SIZE.get(ktype, 1) + _MIN_SIZE.get(vtype, 1))
            _no_stop_elements(ktype, size)
            _no_stop_elements(vtype, size)
            pairs = tuple((self.value(ktype, depth + 1), self.value(vtype, depth + 1)) for _ in range(size))
            return TMap(ktype, vtype, pairs)
        raise ThriftDecodeError(f"unsupported type {ttype!r}")  # pragma: no cover - STOP is filtered out

    def struct(self, depth: int) -> Struct:
        fields: dict[int, Value] = {}
        while True:
            tt = self.ttype(allow_stop=True)
            if tt == TType.STOP:
                return Struct(fields)
            fid = self.i16()
            fields[fid] = self.value(tt, depth)

    def message(self) -> TMessage:
        first = self.i32()
        if first < 0:
            if (first + (1 << 32)) & _VERSION_MASK != VERSION_1:
                raise ThriftDecodeError(f"unsupported binary version {first + (1 << 32):#010x}")
            raw_type = first & 0xFF
            name = decode_text(self.take(self.i32()), "method name")
        else:  # non-strict: the first word is the name's length
            name = decode_text(self.take(first), "method name")
            raw_type = self.byte()
        try:
            mtype = MessageType(raw_type)
        except ValueError:
            raise ThriftDecodeError(f"bad message type {raw_type}") from None
        seqid = self.i32()
        return TMessage(name, mtype, seqid, self.struct(1))


def decode_message(data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS) -> TMessage:
    """Parse one binary message; bytes after its struct are ignored (linejs's surplus ``00``)."""
    return _Reader(data, limits).message()


def decode_struct(data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS) -> Struct:
    """Parse a bare binary struct that must span ``data`` exactly."""
    return _Reader(data, limits).whole_struct()
