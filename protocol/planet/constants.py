"""PLANET/Cassini constants: one-of tags, msg ids, channel id ranges and the native client defaults.

Every value here is a fact of the wire (planet-map §4) that both the codecs and the connection need; keeping
them in one table means a relay capture can be checked against a single place.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Final


class Envelope(IntEnum):
    """Fields of ``planet_msg``: the header plus a one-of of the three message classes."""

    HDR = 1
    SC = 2  # session control: keepalive, BEPI channel open
    CC = 3  # call control
    MC = 4  # media control


class ScTag(IntEnum):
    """One-of fields of ``sc_msg``."""

    KA_REQ = 1
    BEPI_CHANNEL_OPEN = 2  # the record's native name is unknown


class CcTag(IntEnum):
    """One-of fields of ``cc_msg`` (planet-map §4.3)."""

    SETUP_REQ = 1
    SETUP_RSP = 2
    VERIFY_REQ = 3
    VERIFY_RSP = 4
    CONN_REQ = 5
    CONN_RSP = 6
    REL_REQ = 7
    REL_RSP = 8
    HO_REQ = 9
    HO_RSP = 10
    SO_REQ = 11
    SO_RSP = 12
    MCP_REQ = 13
    MCP_RSP = 14
    UPD_REQ = 15
    UPD_RSP = 16
    INFO_REQ = 17
    INFO_RSP = 18
    CPG_RPT = 19
    REL_RPT = 20
    CREL_RPT = 21
    ALIVE_RPT = 22
    SO_RPT = 23
    SOMSD_RPT = 24
    UNAVAIL_REQ = 25
    UNAVAIL_RSP = 26
    BIG_DATA_REQ = 27
    BIG_DATA_RSP = 28
    UNAVAIL_RPT = 29
    PARTICIPATE_REQ = 51
    PARTICIPATE_RSP = 52
    PULL_REQ = 53
    PULL_RSP = 54
    PUSH_REQ = 55
    PUSH_RSP = 56
    CONRX_REQ = 57
    CONRX_RSP = 58
    CSO_REQ = 59
    CSO_RSP = 60
    MSCHG_REQ = 61
    MSCHG_RSP = 62
    DTASS_REQ = 63
    DTASS_RSP = 64
    SUBSCRIBE_REQ = 65
    SUBSCRIBE_RSP = 66
    SUBPUSH_REQ = 67
    SUBPUSH_RSP = 68
    CTUNNEL_REQ = 69
    CTUNNEL_RSP = 70
    CRTE_MIX_REQ = 71
    CRTE_MIX_RSP = 72
    CTRL_MIX_REQ = 73
    CTRL_MIX_RSP = 74
    NOTIFY_MIX_REQ = 75
    NOTIFY_MIX_RSP = 76
    SUBALIVE_REQ = 77
    SUBALIVE_RSP = 78
    SET_SPEAKER_REQ = 79
    SET_SPEAKER_RSP = 80
    CLOC_REQ = 81
    CLOC_RSP = 82
    USER_STATUS_REQ = 83
    USER_STATUS_RSP = 84


class McTag(IntEnum):
    """One-of fields of ``mc_msg`` (planet-map §4.3)."""

    OPEN_REQ = 1
    OPEN_RSP = 2
    CLOSE_RPT = 3
    BRIDGE_REQ = 5
    BRIDGE_RSP = 6
    REOPEN_REQ = 7
    REOPEN_RSP = 8
    JOIN_REQ = 9
    JOIN_RSP = 10
    CHANGE_REQ = 11
    CHANGE_RSP = 12
    CHECK_RPT = 13
    P2P_REQ = 14
    P2P_RSP = 15
    DATA_REQ = 16
    DATA_RSP = 17
    DATA_RPT = 18
    SOPEN_REQ = 19
    SOPEN_RSP = 20
    MOPEN_REQ = 51
    MOPEN_RSP = 52
    MCLOSE_REQ = 53
    MCLOSE_RSP = 54
    STRM_REQ = 55
    STRM_RSP = 56
    RESET_REQ = 57
    RESET_RSP = 58
    NOTIFY_STRM_REQ = 59
    NOTIFY_STRM_RSP = 60
    CH_CHG_REQ = 61
    CH_CHG_RSP = 62
    OTO_STRM_REQ = 63
    OTO_STRM_RSP = 64


class MsgId(IntEnum):
    """``planet_msg_hdr.msg_id`` of everything the client sends (planet-map §4.4); fixed per message kind.

    Inbound ids are never checked: dispatch goes by the one-of tag.
    """

    KEEPALIVE = 0x1101
    BEPI_CHANNEL_OPEN = 0x1102
    SETUP_REQ = 0x2141
    REL_REQ = 0x2145
    INFO_REQ = 0x2147
    PARTICIPATE_REQ = 0x214E
    CONN_RSP = 0x2244
    INFO_RSP = 0x2247
    MC_DATA_REQ = 0x3189
    MC_JOIN_RSP = 0x3285
    MC_CHANGE_RSP = 0x3286
    MC_CHECK_RPT = 0x3287
    MC_DATA_RSP = 0x3289


class RelayMsgId(IntEnum):
    """msg ids the recorded relay (planet_wire*.json) put on what it sent; for a simulator, never checked."""

    CONN_REQ = 0x2143
    SETUP_RSP = 0x2242
    PARTICIPATE_RSP = 0x2252
    MC_JOIN_REQ = 0x3185
    MC_CHANGE_REQ = 0x3186


# ─── channel ids, transaction numbers and nonces (planet-map §4.2, §4.5) ─────────────────────────
# Each is drawn as a number of exactly N bits (top bit set), N uniform in [min, max].

ONE_TO_ONE_CHAN_ID_BITS: Final = (29, 30)  # cc src_chan_id; the 1:1 media channel id is the same value
GROUP_CC_CHAN_ID_BITS: Final = (28, 28)  # group cc src_chan_id in [2**27, 2**28)
GROUP_MEDIA_CHAN_ID_BITS: Final = (31, 31)  # group media channel id in [2**30, 2**31)
TRAN_SEQ_BITS: Final = (26, 30)  # initial planet_msg_hdr.tran_seq, +1 per planet_msg sent
LOC_NONCE_BITS: Final = (29, 30)  # planet_msg_hdr.loc_nonce, constant per connection
TRAN_ID_LEN: Final = 16  # fresh random bytes per message
SESS_ID_LEN: Final = 16


def draw_id_with_bits(random: Callable[[int], bytes], min_bits: int, max_bits: int) -> int:
    """A number of exactly N bits (N uniform in [min_bits, max_bits]) from two little-endian u32 draws."""
    if not 1 <= min_bits <= max_bits <= 32:
        raise ValueError("bit range must lie within 1..32")
    span = max_bits - min_bits + 1
    bits = min_bits + int.from_bytes(random(4), "little") % span
    top = 1 << (bits - 1)
    return top | (int.from_bytes(random(4), "little") & (top - 1))


# ─── native client defaults (planet-map §4.6, §4.7, §4.13, §4.14, §4.16, §4.17) ──────────────────

UA_OS_NAME: Final = "Android"
UA_OS_VERSION: Final = "36"
UA_DEVICE_NAME: Final = "Pixel 6a"
UA_APP_VERSION: Final = "12.1.13-63078245f"
UA_ENGINE_VERSION: Final = "8.2.0-694e2367"
UA_APP_RELEASE_INFO: Final = "ANDROID\t26.6.2\tAndroid OS\t16"  # TAB-separated, like x-line-application
UA_MANUFACTURER: Final = "google"

SVC_KEY_ONE_TO_ONE: Final = "freecall.audio"
SVC_KEY_GROUP: Final = "groupcall.audio"
COMM_TYPE_FLAGS: Final = 1
NET_TYPE: Final = 1
SETUP_CAPAS: Final = (1, 2, 3, 6, 7)
PARTICIPATE_CAPAS: Final = (1, 2, 3, 6, 4, 5)
SETUP_FEATURES: Final = ((16, True, 0), (17, False, 0), (0, False, 0))  # (feature, enabled, state)
PARTICIPATE_FEATURES: Final = ((16, True, 0), (17, False, 0))
DEV_ID_RANDOM_BYTES: Final = 32  # dev_id = base64 of 32 random bytes (44 chars) unless configured

CONN_RSP_DEFAULT_UNAVAIL_TO_SEC: Final = 120
EXCHANGE_APP_STR_DATA: Final = "exchange_app_str_data"
EXCHANGE_APP_STR_DATA_BODY: Final = b'{"csv":1}\x00'

REL_CODE_LOCAL_HANGUP: Final = 2
REL_CODE_GROUP_LEAVE: Final = 1
RELEASER_INITIATOR: Final = "initiator"
RELEASER_PARTICIPANT: Final = "participant"
COMM_MEDIA_FLAGS_AUDIO: Final = 1

GROUP_ROOM_ATTRS: Final = (1,)
GROUP_RECV_RTP: Final = 2
GROUP_MAX_CHAN_CNT: Final = 30
GROUP_UNAVAIL_TO_SEC: Final = 0
GROUP_DATA_SESSION_DISPATCH_ID: Final = 2

# ─── pinhole probes (raw frames, planet-map §4.9) ────────────────────────────────────────────────

PINHOLE_PROBE_COUNT: Final = 16
PINHOLE_KIND: Final = 16
PINHOLE_MTU: Final = 300
PINHOLE_REPORT_MTU: Final = 500
PINHOLE_PAYLOAD_LEN: Final = 500
PINHOLE_ID_MASK: Final = (1 << 48) - 1
PINHOLE_ID_HIGH_BIT: Final = 1 << 47
