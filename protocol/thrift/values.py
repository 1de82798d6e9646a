"""A schema-free Thrift value model shared by the compact and binary codecs.

Decoders turn bytes into these typed wrappers without knowing any IDL: a struct is a mapping
``field id -> value`` whose values remember their wire type. Unknown fields are therefore kept (and
ignored by the typed layer in ``linecall.protocol.talk.structs``), and the typed layer can insist on the
exact wire type it expects through the ``Struct.opt_*`` accessors, which raise :class:`ThriftDecodeError`
on a mismatch instead of guessing. Encoders take the same wrappers, so a request is built as an explicit
tree whose field order is the order on the wire.

Python's ``int`` does not say whether it is an i16, i32 or i64, which is why every scalar has a wrapper;
the wrappers validate their range at construction (:class:`ThriftEncodeError`), so nothing out of range can
reach an encoder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, TypeAlias, TypeVar

from linecall.protocol.thrift.errors import ThriftDecodeError, ThriftEncodeError


class TType(IntEnum):
    """Thrift's type ids as the binary protocol writes them (and as linejs's field arrays use them)."""

    STOP = 0
    BOOL = 2
    BYTE = 3
    DOUBLE = 4
    I16 = 6
    I32 = 8
    I64 = 10
    STRING = 11
    STRUCT = 12
    MAP = 13
    SET = 14
    LIST = 15


class MessageType(IntEnum):
    """``TMessageType``: what a Thrift message envelope carries."""

    CALL = 1
    REPLY = 2
    EXCEPTION = 3
    ONEWAY = 4


class Protocol(IntEnum):
    """Wire protocol of a Talk path; the numbers are linejs's protocol keys (talk-map §1.2)."""

    BINARY = 3
    COMPACT = 4


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds a decoder enforces on untrusted bytes, besides never reading past the end.

    Nesting is bounded so a hostile body cannot exhaust the Python stack; container counts are bounded
    both by ``max_items`` and by the bytes left (every element takes at least one byte), so a forged
    count cannot make the decoder allocate or loop beyond the body's size.
    """

    max_depth: int = 64
    max_items: int = 1_000_000


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class TMessage:
    """A Thrift message envelope: method name, message type, sequence id and the struct it carries."""

    name: str
    type: MessageType
    seqid: int
    body: Struct


class WireValue:
    """Common base of the wrappers: each knows its Thrift type id."""

    __slots__ = ()
    ttype: ClassVar[TType]


_V = TypeVar("_V", bound=WireValue)


def _check_int(kind: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ThriftEncodeError(f"{kind} needs an int, got {type(value).__name__}")
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise ThriftEncodeError(f"{kind} out of range: {value}")


@dataclass(frozen=True, slots=True)
class Bool(WireValue):
    value: bool
    ttype: ClassVar[TType] = TType.BOOL

    def __post_init__(self) -> None:
        if not isinstance(self.value, bool):
            raise ThriftEncodeError(f"BOOL needs a bool, got {type(self.value).__name__}")


@dataclass(frozen=True, slots=True)
class Byte(WireValue):
    value: int
    ttype: ClassVar[TType] = TType.BYTE

    def __post_init__(self) -> None:
        _check_int("BYTE", self.value, 8)


@dataclass(frozen=True, slots=True)
class I16(WireValue):
    value: int
    ttype: ClassVar[TType] = TType.I16

    def __post_init__(self) -> None:
        _check_int("I16", self.value, 16)


@dataclass(frozen=True, slots=True)
class I32(WireValue):
    value: int
    ttype: ClassVar[TType] = TType.I32

    def __post_init__(self) -> None:
        _check_int("I32", self.value, 32)


@dataclass(frozen=True, slots=True)
class I64(WireValue):
    value: int
    ttype: ClassVar[TType] = TType.I64

    def __post_init__(self) -> None:
        _check_int("I64", self.value, 64)


@dataclass(frozen=True, slots=True)
class Double(WireValue):
    value: float
    ttype: ClassVar[TType] = TType.DOUBLE

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, float | int):
            raise ThriftEncodeError(f"DOUBLE needs a float, got {type(self.value).__name__}")


@dataclass(frozen=True, slots=True)
class Binary(WireValue):
    """Thrift ``string``/``binary``: always raw bytes here; the typed layer decides whether it is text."""

    value: bytes
    ttype: ClassVar[TType] = TType.STRING

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes):
            raise ThriftEncodeError(f"STRING needs bytes, got {type(self.value).__name__}")

    @classmethod
    def text(cls, text: str) -> Binary:
        """A Thrift ``string`` holding ``text`` as UTF-8."""
        return cls(text.encode("utf-8"))


def _check_items(kind: str, etype: TType, items: Iterable[Value]) -> None:
    for item in items:
        if item.ttype != etype:
            raise ThriftEncodeError(f"{kind} of {etype.name} holds a {item.ttype.name}")


@dataclass(frozen=True, slots=True)
class TList(WireValue):
    etype: TType
    items: tuple[Value, ...] = ()
    ttype: ClassVar[TType] = TType.LIST

    def __post_init__(self) -> None:
        _check_items("LIST", self.etype, self.items)


@dataclass(frozen=True, slots=True)
class TSet(WireValue):
    etype: TType
    items: tuple[Value, ...] = ()
    ttype: ClassVar[TType] = TType.SET

    def __post_init__(self) -> None:
        _check_items("SET", self.etype, self.items)


@dataclass(frozen=True, slots=True)
class TMap(WireValue):
    """A Thrift map as ordered pairs.

    A decoded empty compact map has ``ktype = vtype = STOP``: compact writes no types for an empty map.
    """

    ktype: TType
    vtype: TType
    items: tuple[tuple[Value, Value], ...] = ()
    ttype: ClassVar[TType] = TType.MAP

    def __post_init__(self) -> None:
        _check_items("MAP key", self.ktype, (k for k, _ in self.items))
        _check_items("MAP value", self.vtype, (v for _, v in self.items))


@dataclass(frozen=True, slots=True)
class Struct(WireValue):
    """A struct as ``field id -> value``; encoders write the fields in this mapping's order."""

    fields: Mapping[int, Value] = field(default_factory=dict)
    ttype: ClassVar[TType] = TType.STRUCT

    def __post_init__(self) -> None:
        for fid in self.fields:
            _check_int("field id", fid, 16)

    def get(self, fid: int) -> Value | None:
        return self.fields.get(fid)

    def __contains__(self, fid: object) -> bool:
        return fid in self.fields

    # Typed accessors: each returns None for an absent field and raises ThriftDecodeError when the field is
    # present with another wire type, so the typed layer never mistakes one value for another.

    def _typed(self, fid: int, cls: type[_V]) -> _V | None:
        value = self.fields.get(fid)
        if value is None:
            return None
        if not isinstance(value, cls):
            raise ThriftDecodeError(f"field {fid}: expected {cls.ttype.name}, got {value.ttype.name}")
        return value

    def opt_bool(self, fid: int) -> bool | None:
        v = self._typed(fid, Bool)
        return None if v is None else v.value

    def opt_byte(self, fid: int) -> int | None:
        v = self._typed(fid, Byte)
        return None if v is None else v.value

    def opt_i16(self, fid: int) -> int | None:
        v = self._typed(fid, I16)
        return None if v is None else v.value

    def opt_i32(self, fid: int) -> int | None:
        v = self._typed(fid, I32)
        return None if v is None else v.value

    def opt_i64(self, fid: int) -> int | None:
        v = self._typed(fid, I64)
        return None if v is None else v.value

    def opt_double(self, fid: int) -> float | None:
        v = self._typed(fid, Double)
        return None if v is None else v.value

    def opt_binary(self, fid: int) -> bytes | None:
        v = self._typed(fid, Binary)
        return None if v is None else v.value

    def opt_text(self, fid: int) -> str | None:
        v = self._typed(fid, Binary)
        return None if v is None else decode_text(v.value, f"field {fid}")

    def opt_struct(self, fid: int) -> Struct | None:
        return self._typed(fid, Struct)

    def opt_list(self, fid: int, etype: TType) -> tuple[Value, ...] | None:
        """Items of a LIST or SET field whose element type is ``etype`` (any type if it is empty)."""
        value = self.fields.get(fid)
        if value is None:
            return None
        if not isinstance(value, TList | TSet):
            raise ThriftDecodeError(f"field {fid}: expected LIST, got {value.ttype.name}")
        if value.items and value.etype != etype:
            raise ThriftDecodeError(f"field {fid}: expected a list of {etype.name}, got {value.etype.name}")
        return value.items

    def opt_text_list(self, fid: int) -> tuple[str, ...] | None:
        items = self.opt_list(fid, TType.STRING)
        if items is None:
            return None
        return tuple(decode_text(_as(item, Binary).value, f"field {fid}") for item in items)

    def opt_binary_list(self, fid: int) -> tuple[bytes, ...] | None:
        items = self.opt_list(fid, TType.STRING)
        return None if items is None else tuple(_as(item, Binary).value for item in items)

    def opt_i32_list(self, fid: int) -> tuple[int, ...] | None:
        items = self.opt_list(fid, TType.I32)
        return None if items is None else tuple(_as(item, I32).value for item in items)

    def opt_struct_list(self, fid: int) -> tuple[Struct, ...] | None:
        items = self.opt_list(fid, TType.STRUCT)
        return None if items is None else tuple(_as(item, Struct) for item in items)

    def opt_text_map(self, fid: int) -> dict[str, str] | None:
        """A ``map<string,string>`` field as a dict (a repeated key keeps its last value)."""
        value = self._typed(fid, TMap)
        if value is None:
            return None
        if value.items and (value.ktype != TType.STRING or value.vtype != TType.STRING):
            raise ThriftDecodeError(
                f"field {fid}: expected map<STRING,STRING>, got map<{value.ktype.name},{value.vtype.name}>"
            )
        where = f"field {fid}"
        return {
            decode_text(_as(k, Binary).value, where): decode_text(_as(v, Binary).value, where)
            for k, v in value.items
        }


Value: TypeAlias = Bool | Byte | I16 | I32 | I64 | Double | Binary | TList | TSet | TMap | Struct


def _as(value: Value, cls: type[_V]) -> _V:
    if not isinstance(value, cls):  # unreachable after the container's own etype check; kept for mypy
        raise ThriftDecodeError(f"expected {cls.__name__}, got {type(value).__name__}")
    return value


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text of a Thrift ``string``; invalid UTF-8 is a :class:`ThriftDecodeError` naming ``where``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ThriftDecodeError(f"{where}: invalid UTF-8 at byte {exc.start}") from None


# ----------------------------------------------------------------------------------------------------------
# Builders: terse constructors for request trees. ``struct`` drops fields whose value is None, which is how
# optional arguments are left off the wire (linejs skips undefined values the same way).


def struct(*fields: tuple[int, Value | None]) -> Struct:
    """A struct of the given ``(fid, value)`` pairs in that order, leaving out pairs whose value is None."""
    return Struct({fid: value for fid, value in fields if value is not None})


def text(value: str | None) -> Binary | None:
    return None if value is None else Binary.text(value)


def i32(value: int | None) -> I32 | None:
    return None if value is None else I32(int(value))


def i64(value: int | None) -> I64 | None:
    return None if value is None else I64(int(value))


def boolean(value: bool | None) -> Bool | None:
    return None if value is None else Bool(value)


def text_list(values: Iterable[str] | None) -> TList | None:
    return None if values is None else TList(TType.STRING, tuple(Binary.text(v) for v in values))


def binary_list(values: Iterable[bytes] | None) -> TList | None:
    return None if values is None else TList(TType.STRING, tuple(Binary(bytes(v)) for v in values))


def text_map(values: Mapping[str, str] | None) -> TMap | None:
    if values is None:
        return None
    items = tuple((Binary.text(k), Binary.text(v)) for k, v in values.items())
    return TMap(TType.STRING, TType.STRING, items)
