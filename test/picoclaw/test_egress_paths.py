"""picoclaw/egress_paths.py: each egress path's route, from how PicoClaw's client for it behaves."""

from __future__ import annotations

import pytest

from traffic_guardian.picoclaw.egress_paths import BYPASS, THROUGH, UNKNOWN, EgressPath, classify

MONITOR = ("127.0.0.1", 18777)


@pytest.mark.parametrize(("path", "route", "words"), [
    (EgressPath("model:m", "model_list[0]", ("api.openai.com",)), THROUGH, "honours the proxy variables"),
    (EgressPath("model:m", "model_list[0]", ("api.openai.com",), proxy="http://127.0.0.1:18777"), THROUGH, ""),
    (EgressPath("model:m", "model_list[0]", ("api.openai.com",), proxy="http://localhost:18777"), THROUGH, ""),
    (EgressPath("model:m", "model_list[0]", ("api.openai.com",), proxy="http://127.0.0.1:3128",
                proxy_path="model_list[0].proxy"), BYPASS, "model_list[0].proxy sends it through 127.0.0.1"),
    (EgressPath("model:m", "model_list[0]", ("api.openai.com",), proxy="socks5://10.0.0.1:1080",
                proxy_path="model_list[0].proxy"), BYPASS, "through 10.0.0.1"),
    (EgressPath("model:o", "model_list[1]", ("localhost",)), BYPASS, "loopback"),
    (EgressPath("model:o", "model_list[1]", ("127.0.0.2", "::1")), BYPASS, "loopback"),
    (EgressPath("channel:irc", "channel_list.irc", ("irc.libera.chat",), "tcp"), BYPASS, "raw TCP"),
    (EgressPath("channel:d", "channel_list.d (voice)", ("discord voice servers",), "udp"), BYPASS, "UDP"),
    (EgressPath("skill:clawhub", "tools.skills.registries.clawhub", ("clawhub.ai",), "own_transport"), BYPASS,
     "without a proxy"),
    (EgressPath("mcp:gh", "tools.mcp.servers.gh", (), "stdio", command="npx"), UNKNOWN, "NODE_USE_ENV_PROXY"),
    (EgressPath("mcp:gh", "tools.mcp.servers.gh", (), "stdio", command="/usr/local/bin/node"), UNKNOWN,
     "NODE_USE_ENV_PROXY"),
    (EgressPath("mcp:py", "tools.mcp.servers.py", (), "stdio", command="uvx"), UNKNOWN, "its own HTTP client"),
    (EgressPath("model:c", "model_list[2]", (), "cli", command="claude-cli"), UNKNOWN, "local CLI"),
])
def test_each_route_says_why(path, route, words):
    line = classify(path, MONITOR)
    assert line["route"] == route and words in line["reason"]
    assert (line["advice"] == "") == (route == THROUGH)


def test_without_a_known_listener_any_proxy_field_is_a_bypass():
    path = EgressPath("model:m", "model_list[0]", ("api.openai.com",), proxy="http://127.0.0.1:18777",
                      proxy_path="model_list[0].proxy")
    assert classify(path, None)["route"] == BYPASS
