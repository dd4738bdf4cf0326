"""The frames between the monitor and its scanner process (scan_process.py, scanner_child.py).

Frames, between our two processes only. To the child: two 4-byte big-endian lengths and
an 8-byte signed offset, the pickled fields of the Exchange, then its body as raw bytes
(written from the proxy's own buffer with writev: a 64 KiB body is not copied into a
pickle and again into a frame) or, when the offset is not -1, nothing: the body is at that
offset in the memory both processes map (body_ring.py), copied there without a system
call. To the monitor: a 4-byte length, then the pickled answer.
"""

from __future__ import annotations

import operator
import pickle
import struct
from dataclasses import fields

from traffic_guardian.detect.exchange import Exchange

ANSWER_LENGTH = struct.Struct(">I")  # an answer's frame
EXCHANGE_HEAD = struct.Struct(">IIq")  # an exchange's frame: the pickled fields, the raw body, its ring offset or -1
_FIELDS = tuple(field.name for field in fields(Exchange) if field.name != "body")
_field_values = operator.attrgetter(*_FIELDS)  # one C call per frame, not a generator over the names


def encode(exchange: Exchange, ring_offset: int | None = None) -> list[bytes]:
    """An exchange's frame as buffers for writev; a bytes body is sent as it is, or not at
    all when it was put in the ring at ring_offset."""
    body = exchange.body
    raw = body if isinstance(body, bytes) else b""
    meta = pickle.dumps((_field_values(exchange), None if raw is body else body),
                        protocol=pickle.HIGHEST_PROTOCOL)
    if ring_offset is not None:
        return [EXCHANGE_HEAD.pack(len(meta), len(raw), ring_offset), meta]
    return [EXCHANGE_HEAD.pack(len(meta), len(raw), -1), meta, raw]


def decode(meta: bytes | bytearray | memoryview, raw: bytes) -> Exchange:
    values, text_body = pickle.loads(meta)  # noqa: S301 - from the monitor that started us, over a pipe
    return Exchange(**dict(zip(_FIELDS, values, strict=True)), body=raw if text_body is None else text_body)
