"""Realistic benign traffic, built in code: what a healthy PicoClaw gateway sends and receives.

Each BenignFlow is a list of Exchanges (requests outbound, responses inbound) plus the
provider credential uses the engine should count (Engine.expected_uses) instead of
reporting. Keys are fresh fakes in their own auth locations to their own hosts; bodies
carry the things that trip naive monitors: UUIDs, hashes, base64 images, lockfiles, JS,
prose about curl and rm, and code answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field

import fakes
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange


@dataclass
class BenignFlow:
    name: str
    exchanges: list[Exchange]
    expected_uses: Counter = field(default_factory=Counter)
    secrets: list[str] = field(default_factory=list)  # planted keys, for leak sweeps


def _request(url: str, headers: dict[str, str], body: str | bytes = "", method: str = "POST",
             content_type: str = "application/json", flow: str = "") -> Exchange:
    host = url.split("/")[2]
    return Exchange(direction=OUTBOUND, dest=f"{host}:443", source="127.0.0.1:50000", protocol="https",
                    method=method, url=url, headers=list(headers.items()), body=body,
                    content_type=content_type if body else "", flow_id=flow)


def _response(url: str, body: str | bytes, content_type: str = "application/json", flow: str = "",
              headers: dict[str, str] | None = None) -> Exchange:
    host = url.split("/")[2]
    base = {"content-type": content_type, "x-request-id": str(uuid.uuid4())}
    return Exchange(direction=INBOUND, dest=f"{host}:443", source="127.0.0.1:50000", protocol="https",
                    url=url, headers=list({**base, **(headers or {})}.items()), body=body,
                    content_type=content_type, flow_id=flow)


# -- bodies --------------------------------------------------------------------------------

PROSE_QUESTIONS = [
    "How do I download a file with curl and check its sha256 before running anything?",
    "My build folder is huge. Is it safe to rm the dist directory, and how do I clean node_modules?",
    "Explain what `set -euo pipefail` does in a bash script.",
    "What's the difference between wget and curl for downloading release tarballs?",
    "Summarise this log: the job ran rm on old artifacts and then curl posted a status to Slack.",
]

CODE_ANSWER = """Here is a safe way to do it:

```bash
set -euo pipefail
curl -fsSL -o install.sh https://example.com/install.sh
sha256sum install.sh   # compare with the published checksum
less install.sh        # read it before you run it
rm -rf ./build node_modules
npm ci && npm run build
```

And in Python:

```python
import os, subprocess
api_key = os.environ["OPENAI_API_KEY"]  # never hard-code keys
subprocess.run(["ls", "-la"], check=True)
```

Avoid piping downloads straight into a shell; download, verify, then execute.
"""

HTML_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Install | Docs</title>
<link rel="stylesheet" href="/assets/app.3f9c2b.css" integrity="sha384-{sri}">
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}
var x=a||b,y=c|d;if(x&&y){{console.log("bash-like | pipes in JS are fine")}}</script></head>
<body><h1>Installing the CLI</h1><p>Download the archive, verify it, then run <code>./install</code>.
Use <code>curl -LO</code> to fetch and <code>rm -rf ~/.cache/tool</code> to clear the cache.</p>
<pre><code>tar xzf tool.tar.gz &amp;&amp; ./tool --version</code></pre>
<img alt="diagram" src="data:image/png;base64,{png}"></body></html>
"""


def png_base64(size: int = 3000) -> str:
    """A real PNG header with compressed noise: binary, so the base64 view drops it."""
    raw = zlib.compress(random.randbytes(size))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + raw).decode()


def package_lock() -> str:
    packages = {}
    for name in ("left-pad", "lodash", "react", "esbuild", "@types/node", "semver"):
        digest = base64.b64encode(hashlib.sha512(name.encode() + random.randbytes(8)).digest()).decode()
        packages[f"node_modules/{name}"] = {
            "version": f"{random.randint(1, 9)}.{random.randint(0, 20)}.{random.randint(0, 9)}",
            "resolved": f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-1.0.0.tgz",
            "integrity": f"sha512-{digest}",
        }
    return json.dumps({"name": "app", "lockfileVersion": 3, "requires": True, "packages": packages}, indent=2)


def poetry_lock() -> str:
    lines = []
    for name in ("requests", "urllib3", "idna", "certifi"):
        lines += [
            "[[package]]", f'name = "{name}"', 'version = "2.31.0"', "",
            f'files = [{{file = "{name}-2.31.0-py3-none-any.whl", '
            f'hash = "sha256:{hashlib.sha256(name.encode()).hexdigest()}"}}]', "",
        ]
    return "\n".join(lines)


def json_api_items(count: int = 40) -> str:
    items = [{
        "id": str(uuid.uuid4()),
        "sha256": hashlib.sha256(random.randbytes(16)).hexdigest(),
        "etag": hashlib.md5(random.randbytes(8)).hexdigest(),  # noqa: S324 - test data, not security
        "created_at": "2026-04-26T00:00:00Z",
        "tags": ["alpha", "beta"],
        "path": f"/srv/data/{random.randint(1, 999)}/report.csv",
        "token_count": random.randint(10, 5000),
    } for _ in range(count)]
    return json.dumps({"object": "list", "data": items, "has_more": False})


def chat_request(model: str, prompt: str, image: bool = False) -> str:
    content: list | str = prompt
    if image:
        content = [{"type": "text", "text": prompt},
                   {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_base64()}"}}]
    return json.dumps({"model": model, "messages": [
        {"role": "system", "content": "You are PicoClaw, a helpful assistant on a Raspberry Pi."},
        {"role": "user", "content": content}], "temperature": 0.2, "stream": False})


def chat_response(text: str) -> str:
    return json.dumps({"id": f"chatcmpl-{fakes.rand(24)}", "object": "chat.completion", "created": 1745625600,
                       "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": text}}],
                       "usage": {"prompt_tokens": 52, "completion_tokens": 180, "total_tokens": 232}})


def tool_call_request(model: str) -> str:
    """Tool-call arguments are JSON inside a JSON string: the nested view must stay quiet too."""
    arguments = json.dumps({"path": "./build/report.md", "command": "ls -la ./build", "max_lines": 200})
    return json.dumps({"model": model, "messages": [
        {"role": "user", "content": "List the build folder"},
        {"role": "assistant", "tool_calls": [{"id": f"call_{fakes.rand(24)}", "type": "function",
                                               "function": {"name": "exec", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "total 8\\ndrwxr-xr-x 2 pi pi 4096 ."}]})


# -- flows ---------------------------------------------------------------------------------


def _llm_flow(name: str, url: str, headers: dict[str, str], provider: str, secret: str, prompt: str,
              uses: int = 1, image: bool = False) -> BenignFlow:
    request = _request(url, headers, chat_request("m-1", prompt, image=image), flow=name)
    response = _response(url, chat_response(CODE_ANSWER), flow=name)
    return BenignFlow(name, [request, response], Counter({provider: uses}), [secret])


# Providers whose only credential is a bearer token: (flow name, URL, provider, fake key).
_BEARER_ONLY = (
    ("deepseek", "https://api.deepseek.com/chat/completions", "openai-compatible", fakes.deepseek_key),
    ("groq", "https://api.groq.com/openai/v1/chat/completions", "groq", fakes.groq_key),
    ("xai", "https://api.x.ai/v1/chat/completions", "xai", fakes.xai_key),
    ("perplexity", "https://api.perplexity.ai/chat/completions", "perplexity", fakes.perplexity_key),
    ("huggingface", "https://router.huggingface.co/v1/chat/completions", "huggingface", fakes.huggingface_token),
    ("replicate", "https://api.replicate.com/v1/predictions", "replicate", fakes.replicate_token),
    ("openai-tool-call", "https://api.openai.com/v1/chat/completions", "openai", fakes.openai_admin_key),
)


def llm_flows() -> list[BenignFlow]:
    q = PROSE_QUESTIONS
    flows = []
    key = fakes.openai_project_key()
    flows.append(_llm_flow("openai-chat", "https://api.openai.com/v1/chat/completions",
                           {"Authorization": f"Bearer {key}", "OpenAI-Organization": "org-" + fakes.rand(24)},
                           "openai", key, q[0], image=True))
    key = fakes.openai_service_account_key()
    flows.append(_llm_flow("openai-responses", "https://api.openai.com/v1/responses",
                           {"authorization": f"Bearer {key}"}, "openai", key, q[1]))
    key = fakes.openai_project_key()
    flows.append(_llm_flow("azure-openai", "https://picoclaw.openai.azure.com/openai/deployments/gpt/chat/completions"
                           "?api-version=2024-10-21", {"api-key": key}, "openai", key, q[2]))
    key = fakes.anthropic_key()
    flows.append(_llm_flow("anthropic-messages", "https://api.anthropic.com/v1/messages",
                           {"x-api-key": key, "anthropic-version": "2023-06-01"}, "anthropic", key, q[3]))
    key = fakes.google_key()
    flows.append(_llm_flow("gemini-query-key", "https://generativelanguage.googleapis.com/v1beta/models/"
                           f"gemini-2.0-flash:generateContent?key={key}", {}, "google", key, q[4]))
    key = fakes.google_key()
    flows.append(_llm_flow("gemini-header-key", "https://generativelanguage.googleapis.com/v1beta/models/"
                           "gemini-2.0-flash:generateContent", {"x-goog-api-key": key}, "google", key, q[0]))
    key = fakes.openrouter_key()
    flows.append(_llm_flow("openrouter", "https://openrouter.ai/api/v1/chat/completions",
                           {"Authorization": f"Bearer {key}", "HTTP-Referer": "https://picoclaw.local",
                            "X-Title": "PicoClaw"}, "openrouter", key, q[1]))
    for index, (name, url, provider, make_key) in enumerate(_BEARER_ONLY):
        key = make_key()
        flows.append(_llm_flow(name, url, {"Authorization": f"Bearer {key}"}, provider, key, q[(index + 2) % len(q)]))
    flows[-1].exchanges[0].body = tool_call_request("gpt-4o")
    return flows


def tavily_flow() -> BenignFlow:
    key = fakes.tavily_key()
    url = "https://api.tavily.com/search"
    body = json.dumps({"api_key": key, "query": "how to safely remove node_modules", "max_results": 5})
    answer = json.dumps({"results": [{"title": "Cleaning up", "url": "https://example.com/clean",
                                      "content": "Run rm -rf node_modules and reinstall with npm ci."}]})
    return BenignFlow("tavily-search", [_request(url, {}, body), _response(url, answer)],
                      Counter({"tavily": 1}), [key])


def telegram_flow() -> BenignFlow:
    token = fakes.telegram_bot_token()
    updates = f"https://api.telegram.org/bot{token}/getUpdates?timeout=30&offset=1"
    send = f"https://api.telegram.org/bot{token}/sendMessage"
    file_url = f"https://api.telegram.org/file/bot{token}/photos/file_1.jpg"
    message = {"ok": True, "result": [{"update_id": 1, "message": {"message_id": 7, "chat": {"id": 42},
                                                                   "text": "please rm the old logs"}}]}
    return BenignFlow("telegram-bot", [
        _request(updates, {}, method="GET"), _response(updates, json.dumps(message)),
        _request(send, {}, json.dumps({"chat_id": 42, "text": "Done: cleaned ./logs with rm -rf ./logs/old"})),
        _response(send, json.dumps({"ok": True, "result": {"message_id": 8}})),
        _request(file_url, {}, method="GET"),
        _response(file_url, base64.b64decode(png_base64()), content_type="image/jpeg"),
    ], Counter({"telegram": 3}), [token])


def discord_flow() -> BenignFlow:
    token = fakes.discord_bot_token()
    url = "https://discord.com/api/v10/channels/1234567890/messages"
    return BenignFlow("discord-bot", [
        _request(url, {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (picoclaw, 0.1)"},
                 json.dumps({"content": "Build finished. Cleaned with `rm -rf dist/`."})),
        _response(url, json.dumps({"id": "1234567890123456789", "content": "Build finished."})),
    ], Counter({"discord": 1}), [token])


def github_flow() -> BenignFlow:
    token = fakes.github_token()
    fine = fakes.github_fine_grained_token()
    issues = "https://api.github.com/repos/sipeed/picoclaw/issues?state=open&per_page=50"
    raw = "https://raw.githubusercontent.com/sipeed/picoclaw/main/README.md"
    return BenignFlow("github-api", [
        _request(issues, {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
                 method="GET"),
        _response(issues, json.dumps([{"number": 7, "title": "curl example in docs",
                                       "body": "The docs say `curl -LO` then verify; please add rm cleanup.",
                                       "node_id": "I_kw" + fakes.rand(16)}])),
        _request(raw, {"Authorization": f"token {fine}"}, method="GET"),
        _response(raw, "# PicoClaw\n\nInstall: download the release, check the sha256, run `./picoclaw`.\n",
                  content_type="text/plain"),
    ], Counter({"github": 2}), [token, fine])


def slack_stripe_aws_jwt_flow() -> BenignFlow:
    slack = fakes.slack_bot_token()
    stripe = fakes.stripe_live_key()
    key_id = fakes.aws_access_key_id()
    session = fakes.jwt()
    sigv4 = (f"AWS4-HMAC-SHA256 Credential={key_id}/20260426/us-east-1/s3/aws4_request, "
             f"SignedHeaders=host;x-amz-date, Signature={hashlib.sha256(b'x').hexdigest()}")
    return BenignFlow("service-apis", [
        _request("https://slack.com/api/chat.postMessage", {"Authorization": f"Bearer {slack}"},
                 json.dumps({"channel": "C0123", "text": "deploy ok"})),
        _request("https://api.stripe.com/v1/charges?limit=3", {"Authorization": f"Bearer {stripe}"}, method="GET"),
        _request("https://picoclaw-backups.s3.amazonaws.com/2026/04/26/db.tar.gz",
                 {"Authorization": sigv4, "x-amz-date": "20260426T000000Z",
                  "x-amz-content-sha256": hashlib.sha256(b"").hexdigest()}, method="GET"),
        _request("https://dashboard.example.net/api/me", {"Authorization": f"Bearer {session}",
                                                          "Cookie": f"session={session}; theme=dark"},
                 method="GET"),
    ], Counter({"slack": 1, "stripe": 1, "aws": 1, "jwt": 2}), [slack, stripe, key_id, session])


def web_flows() -> list[BenignFlow]:
    page = "https://docs.example.com/install"
    sri = base64.b64encode(hashlib.sha384(b"app").digest()).decode()
    js = "https://cdn.example.com/app.min.js"
    bundle = ("!function(e){var t={};function n(r){if(t[r])return t[r].exports;var o=t[r]={i:r,l:!1,exports:{}};"
              "return e[r].call(o.exports,o,o.exports,n),o.l=!0,o.exports}n.m=e,n.c=t}([function(e,t){"
              "e.exports=function(a,b){return a|b||a&b}}]);const sh=s=>s.split('|').map(x=>x.trim());"
              "fetch('/api/items').then(r=>r.json()).then(d=>console.log(d.length));") * 40
    api = "https://api.example.com/v2/items?page=2"
    lock = "https://registry.example.com/upload"
    return [
        BenignFlow("html-page", [
            _request(page, {"Accept": "text/html", "User-Agent": "Mozilla/5.0"}, method="GET"),
            _response(page, HTML_PAGE.format(sri=sri, png=png_base64()), content_type="text/html"),
        ]),
        BenignFlow("js-bundle", [
            _request(js, {"Accept": "*/*"}, method="GET"),
            _response(js, bundle, content_type="application/javascript"),
        ]),
        BenignFlow("json-api", [
            _request(api, {"Accept": "application/json", "X-Request-Id": str(uuid.uuid4())}, method="GET"),
            _response(api, json_api_items()),
            _request("https://api.example.com/v2/items", {"Content-Type": "application/json"}, json_api_items(5)),
        ]),
        BenignFlow("lockfiles", [
            _request(lock, {}, package_lock()),
            _request(lock, {}, poetry_lock(), content_type="text/plain"),
            _response(lock, package_lock()),
        ]),
        BenignFlow("form-post", [
            _request("https://forms.example.com/submit", {},
                     "name=Ada+Lovelace&comment=curl+%7C+less+is+how+I+read+scripts&id=" + str(uuid.uuid4()),
                     content_type="application/x-www-form-urlencoded"),
        ]),
        BenignFlow("base64-image-upload", [
            _request("https://uploads.example.com/v1/images", {},
                     json.dumps({"filename": "photo.png", "data": png_base64(20000),
                                 "sha256": hashlib.sha256(b"photo").hexdigest()})),
        ]),
        BenignFlow("prose-and-code", [
            _request("https://notes.example.com/api/notes", {},
                     json.dumps({"title": "shell tips", "body": "\n".join(PROSE_QUESTIONS) + "\n" + CODE_ANSWER})),
            _response("https://notes.example.com/api/notes", json.dumps({"body": CODE_ANSWER})),
        ]),
        BenignFlow("random-identifiers", [
            _request("https://telemetry.example.com/v1/batch", {},
                     "\n".join(json.dumps({"trace_id": uuid.uuid4().hex, "span": fakes.rand(16, string.hexdigits),
                                           "nonce": base64.urlsafe_b64encode(random.randbytes(24)).decode()})
                               for _ in range(50))),
        ]),
    ]


def all_flows() -> list[BenignFlow]:
    return [*llm_flows(), tavily_flow(), telegram_flow(), discord_flow(), github_flow(),
            slack_stripe_aws_jwt_flow(), *web_flows()]
