"""Automatic replies every call role gives, whatever the call state (planet-map §7.3, §4.14, §4.15).

* cc info_req → info_rsp (result 0, body type and body echoed);
* mc data_req → data_rsp carrying the 148-byte 1:1 data-session payload (group calls answer the same);
* mc join_req → join_rsp, then BEPI channel open, then check_rpt (the fix for calls dropping ~10 s in);
* mc change_req → change_rsp.

Channel headers: cc replies go from our cc channel to the request's source; mc replies from our media
channel to the request's source (else the remote media channel); the call id is the request's, else ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linecall.protocol.planet.messages import (
    BepiChannelOpen,
    ChanHdr,
    InfoReq,
    McChangeReq,
    McDataReq,
    McJoinReq,
    change_rsp,
    check_rpt,
    data_rsp_for,
    info_rsp_for,
    join_rsp,
)

if TYPE_CHECKING:
    from linecall.protocol.planet.connection import PlanetConnection
    from linecall.protocol.planet.mailbox import InboundMessage

BEPI_TOKEN_LEN = 8


def _request_chan(item: InboundMessage) -> ChanHdr:
    return item.message.chan or ChanHdr()


def cc_reply_chan(conn: PlanetConnection, item: InboundMessage) -> ChanHdr:
    """cc header of a reply: request cid (else ours), our cc channel → the request's source channel."""
    req = _request_chan(item)
    return ChanHdr(cid=req.cid or conn.cid, src_chan_id=conn.src_chan_id, dst_chan_id=req.src_chan_id)


def mc_reply_chan(conn: PlanetConnection, item: InboundMessage) -> ChanHdr:
    """mc header of a reply: our media channel → the request's source, else the remote media channel."""
    req = _request_chan(item)
    return ChanHdr(
        cid=req.cid or conn.cid,
        src_chan_id=conn.media_chan_id,
        dst_chan_id=req.src_chan_id or conn.remote_media_chan,
    )


def answer_info_req(conn: PlanetConnection, item: InboundMessage, request: InfoReq) -> None:
    conn.send_message(info_rsp_for(request), cc_reply_chan(conn, item))


def answer_data_req(conn: PlanetConnection, item: InboundMessage, request: McDataReq) -> None:
    conn.send_message(data_rsp_for(request), mc_reply_chan(conn, item))


def answer_join_req(conn: PlanetConnection, item: InboundMessage, request: McJoinReq) -> None:
    chan = mc_reply_chan(conn, item)
    conn.send_message(join_rsp(), chan)
    token = int.from_bytes(conn.random(BEPI_TOKEN_LEN), "big")
    conn.send_message(BepiChannelOpen(token), None)
    conn.send_message(check_rpt(), chan)


def answer_change_req(conn: PlanetConnection, item: InboundMessage, request: McChangeReq) -> None:
    conn.send_message(change_rsp(), mc_reply_chan(conn, item))


def answer_common(conn: PlanetConnection, item: InboundMessage) -> bool:
    """Send the automatic reply ``item`` calls for; False if it is not one of the auto-answered kinds."""
    body = item.message.body
    if isinstance(body, InfoReq):
        answer_info_req(conn, item, body)
    elif isinstance(body, McDataReq):
        answer_data_req(conn, item, body)
    elif isinstance(body, McJoinReq):
        answer_join_req(conn, item, body)
    elif isinstance(body, McChangeReq):
        answer_change_req(conn, item, body)
    else:
        return False
    return True
