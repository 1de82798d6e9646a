"""Protocol-neutral entry points: pick the compact or binary codec by :class:`Protocol`.

The Talk service layer builds and parses messages through these functions so that one method definition
serves both ``/S4`` (compact) and ``/S3`` (binary).
"""

from __future__ import annotations

from linecall.protocol.thrift import binary, compact
from linecall.protocol.thrift.values import DEFAULT_LIMITS, DecodeLimits, Protocol, Struct, TMessage


def encode_call(protocol: Protocol, name: str, args: Struct) -> bytes:
    """A CALL message in linejs's framing (surplus trailing ``00``; see ``compact.encode_call``)."""
    if protocol == Protocol.COMPACT:
        return compact.encode_call(name, args)
    return binary.encode_call(name, args)


def encode_message(protocol: Protocol, message: TMessage) -> bytes:
    """A standard message of any type (REPLY, EXCEPTION, ...) without linejs's surplus byte."""
    if protocol == Protocol.COMPACT:
        return compact.encode_message(message)
    return binary.encode_message(message)


def decode_message(
    protocol: Protocol, data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS
) -> TMessage:
    """Parse one message; raises only ``ThriftDecodeError`` on malformed bytes."""
    if protocol == Protocol.COMPACT:
        return compact.decode_message(data, limits)
    return binary.decode_message(data, limits)
