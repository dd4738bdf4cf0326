"""home/syslog_sink.py: each finding one RFC 5424 message whose MSG is its JSONL line; never blocks."""

from __future__ import annotations

import socket
import time

import pytest

from traffic_guardian import VERSION
from traffic_guardian.home.syslog_sink import QUEUE_MAX, SyslogSink, SyslogTarget, parse_target, rfc5424


def test_the_message_is_rfc5424_with_the_jsonl_line_as_its_msg():
    target = parse_target({"address": "udp://127.0.0.1:514", "facility": "local3"})
    line = '{"pattern":"known_secret","severity":"critical","snippet":"[REDACTED known_secret len=40 fp=ab]"}'
    message = rfc5424(line, "critical", "known_secret", "2026-12-04T21:00:00.000Z", target, "gw1", 4242)
    assert message == ("<154>1 2026-12-04T21:00:00.000Z gw1 picoclaw-traffic-guardian 4242 known_secret "
                       f'[origin software="picoclaw-traffic-guardian" swVersion="{VERSION}"] '
                       + line).encode()  # local3 (19) * 8 + crit (2)


@pytest.mark.parametrize(("setting", "words"), [
    ({}, "address must be"),
    ({"address": "http://x:1"}, "is not a unix socket path"),
    ({"address": "tcp://host"}, "is not a unix socket path"),
    ({"address": "/dev/log", "facility": "local9"}, "facility"),
    ({"address": "/dev/log", "app_name": "has space"}, "app_name"),
    ({"address": "/dev/log", "port": 1}, "unknown key"),
])
def test_bad_settings_say_what_is_wrong(setting, words):
    with pytest.raises(ValueError, match=words):
        parse_target(setting)


def test_udp_messages_arrive_and_tcp_is_octet_counted():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sink = SyslogSink(parse_target({"address": f"udp://127.0.0.1:{receiver.getsockname()[1]}"}))
    sink.submit('{"a":1}', "high", "github_token", "2026-12-04T21:00:00.000Z")
    assert receiver.recv(65536).endswith(b'"] {"a":1}')
    sink.close()
    assert sink.sent == 1 and sink.dropped == 0
    listener = socket.create_server(("127.0.0.1", 0))
    sink = SyslogSink(parse_target({"address": f"tcp://127.0.0.1:{listener.getsockname()[1]}"}))
    sink.submit('{"b":2}', "info", "upstream_tls_error", "2026-12-04T21:00:00.000Z")
    connection, _ = listener.accept()
    connection.settimeout(5)
    data = b""
    while not data.endswith(b"}"):
        data += connection.recv(65536)
    length, _, message = data.partition(b" ")
    assert int(length) == len(message) and message.startswith(b"<134>1 ")  # local0 * 8 + info
    sink.close()
    connection.close()
    listener.close()


def test_an_unreachable_collector_drops_and_counts_without_blocking():
    target = SyslogTarget("unix", "/nonexistent/dev-log", 16, "picoclaw-traffic-guardian")
    sink = SyslogSink(target)
    started = time.monotonic()
    for _ in range(QUEUE_MAX * 2):
        sink.submit("{}", "low", "x", "2026-12-04T21:00:00.000Z")
    assert time.monotonic() - started < 1.0  # submit never waits for the network
    sink.close(timeout=5)
    assert sink.sent == 0 and sink.dropped == QUEUE_MAX * 2
