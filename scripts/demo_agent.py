#!/usr/bin/env python3
"""A sample agent for scripts/demo.sh: provider-style calls through the monitor.

Run as the scoped child of start.sh, so it reaches the local upstreams (demo_upstream.py)
only through the proxy variables start.sh handed it; it sets none itself. It makes:
  - normal chat completions over HTTP and HTTPS with a provider key in Authorization
    (counted as expected credential use: the demo config binds that key to 127.0.0.1)
  - a tool call that leaks a GitHub token in a JSON body, an AWS key id in a URL, and the
    provider key itself in a body (each generated now, fake, never printed)
  - a chat reply and an SSE stream that carry a pipe-to-shell instruction (injection)
  - a websocket message that carries a Slack token
Prints a one-line summary per call to stderr (status codes, never a secret).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))

import fakes  # noqa: E402 - the repository's fake-secret generators (nothing secret-shaped is committed)


def call(label: str, url: str, body: dict | None = None, headers: dict | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - local demo upstream
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local demo upstream
        payload = response.read()
        print(f"demo_agent: {label}: HTTP {response.status}, {len(payload)} bytes", file=sys.stderr)
        return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_agent.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--ws-port", type=int)
    args = parser.parse_args(argv)
    http_base = f"http://127.0.0.1:{args.http_port}"
    https_base = f"https://127.0.0.1:{args.https_port}"
    provider_key = fakes.openai_project_key()
    auth = {"Authorization": f"Bearer {provider_key}"}
    question = {"model": "demo-model", "messages": [{"role": "user", "content": "Weather in Lisbon?"}]}

    call("chat (http, normal)", f"{http_base}/v1/chat/completions", question, auth)
    call("chat (https, normal)", f"{https_base}/v1/chat/completions", question, auth)
    tool_args = {"repo": "demo/app", "token": fakes.github_token()}
    call("tool call leaking a GitHub token (https body)", f"{https_base}/echo",
         {"tool": "create_issue", "arguments": json.dumps(tool_args)})
    call("tool call leaking an AWS key id (http url)", f"{http_base}/echo?aws_key={fakes.aws_access_key_id()}", {})
    call("provider key sent to a tool endpoint (http body)", f"{http_base}/echo", {"note": provider_key})
    call("chat reply carrying an injection (https)", f"{https_base}/v1/chat/completions?inject=1", question, auth)
    call("streamed reply carrying an injection (https, SSE)", f"{https_base}/stream")
    if args.ws_port:
        from websockets.sync.client import connect  # honours the proxy variables (websockets >= 15)

        with connect(f"ws://127.0.0.1:{args.ws_port}/", open_timeout=30) as socket:
            socket.send(json.dumps({"type": "notify", "slack_token": fakes.slack_bot_token()}))
            socket.recv(timeout=30)
            socket.send("inject")
            socket.recv(timeout=30)
        print("demo_agent: websocket: sent a Slack token, received an injection", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
