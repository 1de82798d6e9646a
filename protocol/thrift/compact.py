"""Thrift compact protocol (TCompactProtocol), hand-written over the value model of ``values``.

Used by every Talk path linecall needs (``/S4``, ``/SYNC4``, ``/V4``; talk-map §1.2). Two framing details
follow linejs because they are the only forms known to be accepted by LINE (talk-map §2.1/§2.2):

* a CALL's args struct is followed by one surplus ``00`` byte, and an args struct with no fields is written
  as that single byte alone (``82 21 00 <len> <name> 00``): see :func:`encode_call`;
* the header is ``82 21 <seqid 0> <name length> <name>``; the name length is written as a varint, which is
  byte-identical to linejs's single length byte for every name shorter than 128 bytes.

Field 0 (a method result's success value) is necessarily written in the long field-header form ``<ctype>
<zigzag fid>`` because a short header cannot express a delta of 0; the writer picks the long form whenever
the delta is not 1..15, exactly like the Apache runtimes.

Decoding accepts any well-formed compact message, ignores bytes after the message's struct (a request from
linejs carries the surplus byte), and raises :class:`ThriftDecodeError` for everything else.
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

PROTOCOL_ID = 0x82
VERSION = 1

# Compact type nibbles (talk-map §0 notation). BOOL has two: 1 = true, 2 = false.
CT_BOOL_TRUE = 1
CT_BOOL_FALSE = 2
_TTYPE_TO_CT: dict[TType, int] = {
    TType.BOOL: CT_BOOL_TRUE,
    TType.BYTE: 3,
    TType.I16: 4,
    TType.I32: 5,
    TType.I64: 6,
    TType.DOUBLE: 7,
    TType.STRING: 8,
    TType.LIST: 9,
    TType.SET: 10,
    TType.MAP: 11,
    TType.STRUCT: 12,
}
_CT_TO_TTYPE: dict[int, TType] = {ct: tt for tt, ct in _TTYPE_TO_CT.items()}
_CT_TO_TTYPE[CT_BOOL_FALSE] = TType.BOOL

_DOUBLE = _struct.Struct("<d")


# ---------------------------------------------------------------------------------------------- encoding


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63) if n < 0 else n << 1


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_value(value: Value, out: bytearray) -> None:
    if isinstance(value, Bool):  # only inside containers; struct fields carry booleans in the header
        out.append(CT_BOOL_TRUE if value.value else CT_BOOL_FALSE)
    elif isinstance(value, Byte):
        out.append(value.value & 0xFF)
    elif isinstance(value, I16 | I32 | I64):
        _varint(_zigzag(value.value), out)
    elif isinstance(value, Double):
        out += _DOUBLE.pack(value.value)
    elif isinstance(value, Binary):
        _varint(len(value.value), out)
        out += value.value
    elif isinstance(value, Struct):
        _write_struct(value, out)
    elif isinstance(value, TList | TSet):
        _write_collection_header(value.etype, len(value.items), out)
        for item in value.items:
            _write_value(item, out)
    elif isinstance(value, TMap):
        if not value.items:
            out.append(0)
            return
        _varint(len(value.items), out)
        out.append((_ctype(value.ktype) << 4) | _ctype(value.vtype))
        for k, v in value.items:
            _write_value(k, out)
            _write_value(v, out)
    else:  # pragma: no cover - Value is a closed union
        raise ThriftEncodeError(f"not a Thrift value: {value!r}")


def _ctype(ttype: TType) -> int:
    try:
        return _TTYPE_TO_CT[ttype]
    except KeyError:
        raise ThriftEncodeError(f"no compact type for {ttype.name}") from None


def _write_collection_header(etype: TType, size: int, out: bytearray) -> None:
    if etype == TType.STOP and size == 0:  # a decoded empty collection that never named its element type
        out.append(0)
        return
    ct = _ctype(etype)
    if size < 15:
        out.append((size << 4) | ct)
    else:
        out.append(0xF0 | ct)
        _varint(size, out)


def _field_ctype(item: Value) -> int:
    # A boolean field carries its value in the header's type nibble and has no payload.
    if isinstance(item, Bool):
        return CT_BOOL_TRUE if item.value else CT_BOOL_FALSE
    return _ctype(item.ttype)


def _write_struct(value: Struct, out: bytearray) -> None:
    last = 0
    for fid, item in value.fields.items():
        ct = _field_ctype(item)
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | ct)
        else:
            out.append(ct)
            _varint(_zigzag(fid), out)
        last = fid
        if not isinstance(item, Bool):
            _write_value(item, out)
    out.append(0)


def encode_struct(value: Struct) -> bytes:
    """The compact bytes of ``value``: its fields in mapping order, then the STOP byte."""
    out = bytearray()
    _write_struct(value, out)
    return bytes(out)


def encode_value(value: Value) -> bytes:
    """The compact bytes of a single value as it appears inside a container (booleans as one byte)."""
    out = bytearray()
    _write_value(value, out)
    return bytes(out)


def _header(name: str, mtype: MessageType, seqid: int) -> bytearray:
    encoded = name.encode("utf-8")
    out = bytearray((PROTOCOL_ID, (int(mtype) << 5) | VERSION))
    _varint(seqid & 0xFFFFFFFF, out)
    _varint(len(encoded), out)
    out += encoded
    return out


def encode_message(message: TMessage) -> bytes:
    """A standard compact message: header, then the struct (no surplus byte)."""
    out = _header(message.name, message.type, message.seqid)
    _write_struct(message.body, out)
    return bytes(out)


def encode_call(name: str, args: Struct) -> bytes:
    """A CALL exactly as linejs frames it: header (seqid 0), args fields, STOP, one surplus ``00``.

    An args struct without fields becomes the single ``00`` (linejs drops the lone STOP and keeps the
    surplus byte), e.g. ``getProfile()`` is ``82 21 00 0a "getProfile" 00``.
    """
    out = _header(name, MessageType.CALL, 0)
    if args.fields:
        _write_struct(args, out)
    out.append(0)
    return bytes(out)


# ---------------------------------------------------------------------------------------------- decoding


class _Reader(ByteReader):
    __slots__ = ()

    def byte(self) -> int:
        if self._pos >= len(self._buf):
            raise ThriftDecodeError(f"truncated at offset {self._pos}")
        b = self._buf[self._pos]
        self._pos += 1
        return b

    def varint(self, bits: int) -> int:
        """An unsigned varint of at most ``bits`` bits (5 bytes for 32, 10 bytes for 64)."""
        max_bytes = (bits + 6) // 7
        result = 0
        for i in range(max_bytes):
            b = self.byte()
            result |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if result >> bits:
                    raise ThriftDecodeError(f"varint exceeds {bits} bits at offset {self._pos}")
                return result
        raise ThriftDecodeError(f"varint longer than {max_bytes} bytes at offset {self._pos}")

    def zigzag(self, bits: int) -> int:
        n = self.varint(bits)
        return (n >> 1) ^ -(n & 1)

    def count(self, what: str, min_bytes_each: int) -> int:
        n = self.varint(32)
        self.check_count(what, n, min_bytes_each)
        return n

    def value(self, ttype: TType, depth: int) -> Value:
        if ttype == TType.BOOL:
            b = self.byte()
            if b == CT_BOOL_TRUE:
                return Bool(True)
            if b in (0, CT_BOOL_FALSE):
                return Bool(False)
            raise ThriftDecodeError(f"bad boolean byte {b:#04x} at offset {self._pos - 1}")
        if ttype == TType.BYTE:
            b = self.byte()
            return Byte(b - 256 if b > 127 else b)
        if ttype == TType.I16:
            v = self.zigzag(32)
            if not -0x8000 <= v < 0x8000:
                raise ThriftDecodeError(f"i16 out of range: {v}")
            return I16(v)
        if ttype == TType.I32:
            return I32(self.zigzag(32))
        if ttype == TType.I64:
            return I64(self.zigzag(64))
        if ttype == TType.DOUBLE:
            return Double(_DOUBLE.unpack(self.take(8))[0])
        if ttype == TType.STRING:
            return Binary(self.take(self.varint(32)))
        if depth >= self._limits.max_depth:
            raise ThriftDecodeError(f"nesting deeper than {self._limits.max_depth}")
        if ttype == TType.STRUCT:
            return self.struct(depth + 1)
        if ttype in (TType.LIST, TType.SET):
            return self.collection(ttype, depth + 1)
        if ttype == TType.MAP:
            return self.map(depth + 1)
        raise ThriftDecodeError(f"unsupported type {ttype!r}")  # pragma: no cover - callers map ctypes first

    def element_type(self, ct: int) -> TType:
        try:
            return _CT_TO_TTYPE[ct]
        except KeyError:
            raise ThriftDecodeError(f"bad compact type {ct} at offset {self._pos - 1}") from None

    def collection(self, ttype: TType, depth: int) -> Value:
        header = self.byte()
        size = header >> 4
        ct = header & 0x0F
        if size == 15:
            size = self.count(ttype.name, 1)
        else:
            self.check_count(ttype.name, size, 1)
        # An empty collection may be written without an element type (header 00).
        etype = TType.STOP if size == 0 and ct == 0 else self.element_type(ct)
        items = tuple(self.value(etype, depth) for _ in range(size))
        return TList(etype, items) if ttype == TType.LIST else TSet(etype, items)

    def map(self, depth: int) -> TMap:
        size = self.count("MAP", 2)
        if size == 0:
            return TMap(TType.STOP, TType.STOP, ())
        types = self.byte()
        ktype = self.element_type(types >> 4)
        vtype = self.element_type(types & 0x0F)
        items = tuple((self.value(ktype, depth), self.value(vtype, depth)) for _ in range(size))
        return TMap(ktype, vtype, items)

    def struct(self, depth: int) -> Struct:
        fields: dict[int, Value] = {}
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return Struct(fields)
            ct = header & 0x0F
            delta = header >> 4
            if delta:
                fid = last + delta
                if fid > 0x7FFF:
                    raise ThriftDecodeError(f"field id {fid} out of range")
            else:
                fid = self.zigzag(32)
                if not -0x8000 <= fid <= 0x7FFF:
                    raise ThriftDecodeError(f"field id {fid} out of range")
            last = fid
            if ct == CT_BOOL_TRUE:
                fields[fid] = Bool(True)
            elif ct == CT_BOOL_FALSE:
                fields[fid] = Bool(False)
            else:
                fields[fid] = self.value(self.element_type(ct), depth)

    def message(self) -> TMessage:
        if self.byte() != PROTOCOL_ID:
            raise ThriftDecodeError("not a compact Thrift message (protocol id is not 0x82)")
        vt = self.byte()
        if vt & 0x1F != VERSION:
            raise ThriftDecodeError(f"unsupported compact version {vt & 0x1F}")
        try:
            mtype = MessageType(vt >> 5)
        except ValueError:
            raise ThriftDecodeError(f"bad message type {vt >> 5}") from None
        seqid = self.varint(32)
        if seqid >= 1 << 31:
            seqid -= 1 << 32
        name = decode_text(self.take(self.varint(32)), "method name")
        return TMessage(name, mtype, seqid, self.struct(1))


def decode_message(data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS) -> TMessage:
    """Parse one compact message; bytes after its struct are ignored (linejs's surplus ``00``)."""
    return _Reader(data, limits).message()


def decode_struct(data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS) -> Struct:
    """Parse a bare compact struct that must span ``data`` exactly."""
    return _Reader(data, limits).whole_struct()
