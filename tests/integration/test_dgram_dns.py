"""UDP's classic use: a DNS query over nodish UDP, answered by a DNS responder written
with nodish, both checked against an independent DNS encoder (dnslib).

The responder and the client below encode and decode DNS (RFC 1035 §4.1) by hand;
dnslib is the referee: it must read our query and our answers as the same messages it
would build itself, byte for byte, and its own client must get our answers. Runs on
uvloop and on plain asyncio.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import dnslib
import pytest
from tests.helpers import wait_for

from nodish import dgram

RECORDS = {"example.test": "10.0.0.7", "深入浅出.test": "10.0.0.8"}
TTL = 60
QTYPE_A, QCLASS_IN = 1, 1
RCODE_FORMERR, RCODE_NXDOMAIN = 1, 3


def encode_name(name: str) -> bytes:
    """RFC 1035 §3.1: length-prefixed labels (IDNA for non-ASCII), then a zero byte."""
    out = b""
    for label in name.encode("idna").split(b"."):
        out += bytes([len(label)]) + label
    return out + b"\x00"


def build_query(qid: int, name: str) -> bytes:
    """Header (§4.1.1): id, flags RD, one question; then the question (§4.1.2)."""
    return (
        struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        + encode_name(name)
        + struct.pack("!HH", QTYPE_A, QCLASS_IN)
    )


def parse_question(msg: bytes) -> tuple[str, int, int, int]:
    """The first question's name, type, class, and where it ends. Raises ValueError."""
    labels: list[bytes] = []
    pos = 12
    while True:
        if pos >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            raise ValueError("bad label")
        labels.append(msg[pos : pos + n])
        pos += n
    if pos + 4 > len(msg):
        raise ValueError("question truncated")
    qtype, qclass = struct.unpack_from("!HH", msg, pos)
    return b".".join(labels).decode("idna").lower(), qtype, qclass, pos + 4


def build_answer(query: bytes, records: dict[str, str]) -> bytes | None:
    """The responder's reply to one datagram, or None to ignore it (too short)."""
    if len(query) < 12:
        return None  # not even a header: nothing to answer to
    qid, flags = struct.unpack_from("!HH", query)
    rd = flags & 0x0100
    try:
        name, qtype, qclass, end = parse_question(query)
    except ValueError:
        # FORMERR (§4.1.1): QR, the request's RD, RA; no question echoed back
        return struct.pack("!HHHHHH", qid, 0x8080 | rd | RCODE_FORMERR, 0, 0, 0, 0)
    question = query[12:end]
    ip = records.get(name)
    if ip is None or qtype != QTYPE_A or qclass != QCLASS_IN:
        rcode = RCODE_NXDOMAIN if ip is None else 0
        return struct.pack("!HHHHHH", qid, 0x8480 | rd | rcode, 1, 0, 0, 0) + question
    answer = struct.pack("!HHHIH", 0xC00C, QTYPE_A, QCLASS_IN, TTL, 4) + bytes(
        int(part) for part in ip.split(".")
    )
    # QR, AA, RD as asked, RA: what dnslib's reply() sets too
    return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 1, 0, 0) + question + answer


async def start_responder() -> dgram.Socket:
    server = dgram.create_socket("udp4")

    def on_message(msg: bytes, rinfo: Any) -> None:
        reply = build_answer(msg, RECORDS)
        if reply is not None:
            server.send(reply, rinfo.port, rinfo.address)

    server.on("message", on_message)
    await server.bind(0, "127.0.0.1")
    return server


async def ask(client: dgram.Socket, port: int, query: bytes) -> bytes:
    reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    client.once("message", lambda msg, rinfo: reply.set_result(msg))
    client.send(query, port, "127.0.0.1")
    return await wait_for(reply)


@pytest.mark.parametrize("name", sorted(RECORDS))
async def test_dns_query_over_nodish_udp_matches_dnslib_byte_for_byte(name: str) -> None:
    server = await start_responder()
    client = dgram.create_socket("udp4")
    query = build_query(0x1234, name)
    reference = dnslib.DNSRecord.question(name.encode("idna").decode(), "A")
    reference.header.id = 0x1234
    assert query == reference.pack()  # our query is what dnslib would send

    reply = await ask(client, server.address().port, query)
    expected = reference.reply()
    expected.add_answer(
        dnslib.RR(
            name.encode("idna").decode(), dnslib.QTYPE.A, rdata=dnslib.A(RECORDS[name]), ttl=TTL
        )
    )
    assert reply == expected.pack()  # and our answer is what dnslib would answer
    parsed = dnslib.DNSRecord.parse(reply)
    assert parsed.header.id == 0x1234 and parsed.header.rcode == 0
    assert str(parsed.a.rdata) == RECORDS[name]
    await client.close()
    await server.close()


async def test_dnslib_client_gets_answers_from_the_nodish_responder() -> None:
    server = await start_responder()
    port = server.address().port
    question = dnslib.DNSRecord.question("example.test", "A")
    loop = asyncio.get_running_loop()
    raw = await wait_for(loop.run_in_executor(None, question.send, "127.0.0.1", port, False, 5))
    answer = dnslib.DNSRecord.parse(raw)
    assert answer.header.id == question.header.id
    assert [str(rr.rdata) for rr in answer.rr] == ["10.0.0.7"]
    missing = dnslib.DNSRecord.question("nowhere.test", "A")
    raw2 = await wait_for(loop.run_in_executor(None, missing.send, "127.0.0.1", port, False, 5))
    assert dnslib.DNSRecord.parse(raw2).header.rcode == dnslib.RCODE.NXDOMAIN
    await server.close()


async def test_malformed_queries_get_FORMERR_or_nothing_and_good_queries_still_answered() -> None:
    server = await start_responder()
    port = server.address().port
    client = dgram.create_socket("udp4")
    got: asyncio.Queue[bytes] = asyncio.Queue()
    client.on("message", lambda msg, rinfo: got.put_nowait(msg))
    # too short for a header: ignored; a label running past the end: FORMERR
    client.send(b"\x12\x34\x01", port, "127.0.0.1")
    client.send(struct.pack("!HHHHHH", 0x4321, 0x0100, 1, 0, 0, 0) + b"\x3fabc", port, "127.0.0.1")
    formerr = dnslib.DNSRecord.parse(await wait_for(got.get()))
    assert formerr.header.id == 0x4321 and formerr.header.rcode == dnslib.RCODE.FORMERR
    # the responder still serves a good client
    client.send(build_query(7, "example.test"), port, "127.0.0.1")
    good = dnslib.DNSRecord.parse(await wait_for(got.get()))
    assert good.header.id == 7 and str(good.a.rdata) == "10.0.0.7"
    assert got.empty()  # the 3-byte datagram got no answer
    await client.close()
    await server.close()
