"""The PLANET error hierarchy, shared by the codec, crypto, framing and connection modules.

Every parser of untrusted bytes in ``linecall.protocol.planet`` raises one of these (never
IndexError/struct.error/UnicodeDecodeError), so a caller can catch ``PlanetError`` to drop a bad
datagram without masking programming errors.
"""

from __future__ import annotations


class PlanetError(Exception):
    """Base of every error raised by the PLANET transport on bad input or bad state."""


class ProtoDecodeError(PlanetError, ValueError):
    """Protobuf bytes that are truncated, over-long or of the wrong shape for the expected message."""


class FramingError(PlanetError, ValueError):
    """A datagram whose chunk/security header or frame layout cannot be parsed."""


class PlanetCryptoError(PlanetError):
    """Key agreement, key derivation or authentication (tag check) failed."""
