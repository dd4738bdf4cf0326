"""proxy_env: what one scoped process receives, and nothing for anyone else."""

from __future__ import annotations

from pathlib import Path

from traffic_guardian.control.proxy_env import (
    PROXY_VARIABLES,
    TRUST_VARIABLES,
    proxy_url_with_credentials,
    scoped_assignments,
    scoped_env,
)


def test_credentials_are_percent_encoded_into_the_proxy_url():
    assert proxy_url_with_credentials("http://127.0.0.1:18777", "guardian", "a/b:c@d") == \
        "http://guardian:a%2Fb%3Ac%40d@127.0.0.1:18777"


def test_proxy_and_no_proxy_always_set_trust_only_with_a_bundle():
    plain = scoped_assignments("http://127.0.0.1:1", "u", "p")
    assert set(plain) == {*PROXY_VARIABLES, "NO_PROXY", "no_proxy", "NODE_USE_ENV_PROXY"}
    assert plain["NODE_USE_ENV_PROXY"] == "1"  # Node.js MCP servers honour the variables only with it
    assert plain["NO_PROXY"] == "" and plain["https_proxy"] == "http://u:p@127.0.0.1:1"
    inspected = scoped_assignments("http://127.0.0.1:1", "u", "p", "internal.example", Path("/h/ca/b.pem"))
    assert {inspected[name] for name in TRUST_VARIABLES} == {"/h/ca/b.pem"}
    assert inspected["no_proxy"] == "internal.example"


def test_scoped_env_overrides_inherited_values_and_drops_all_proxy():
    base = {"PATH": "/bin", "NO_PROXY": "*", "ALL_PROXY": "socks5://x", "all_proxy": "socks5://x"}
    env = scoped_env(base, scoped_assignments("http://127.0.0.1:1", "u", "p"))
    assert env["NO_PROXY"] == "" and "ALL_PROXY" not in env and "all_proxy" not in env and env["PATH"] == "/bin"
    assert base["NO_PROXY"] == "*"  # the caller's environment is untouched
