"""Benchmark inputs, generated in code: a realistic mixed corpus and adversarial inputs.

The mixed corpus is what a PicoClaw gateway actually carries: JSON LLM requests with
chat history and tool calls, prose answers, fetched HTML pages, base64 payloads (images
in data URLs, encoded file contents), with a few planted fake secrets (test/fakes.py) so
the match-and-redact path is exercised too. Every document is exactly SIZE bytes of
UTF-8, built from a seeded random generator so runs compare like with like.

The adversarial inputs are built per rule from its own keywords and the characters its
regex consumes: keyword runs, keyword plus a long run of one character the regex eats
(the near-miss that makes a backtracking regex quadratic), and near-matches truncated
one character short. Decoder bombs (deep percent-encoding, escape-heavy JSON, many
base64 runs) cover decode.py.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BUNDLE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BUNDLE / "lib"), str(BUNDLE / "test")]

import fakes  # noqa: E402  (test/fakes.py: secret-shaped values generated at run time)
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND  # noqa: E402
from traffic_guardian.detect.rules import RULESET, Rule  # noqa: E402

SIZE = 64 * 1024

_WORDS = (
    "the gateway forwards each request to the model provider and streams the answer back to the agent "
    "which then decides whether to call a tool read a file or fetch a page from the web before it replies "
    "configuration lives in a json file and the operator can change the model the temperature and the "
    "maximum number of tokens per turn while the session history is kept in memory for the next message "
    "errors are retried with backoff and every tool result is appended to the conversation as a message"
).split()


@dataclass(frozen=True)
class Sample:
    name: str  # kind of document or rule_id/shape of an adversarial input
    direction: str  # OUTBOUND (request body) or INBOUND (response body)
    text: str
    content_type: str = "application/json"


def _fit(text: str, size: int = SIZE) -> str:
    """Cut or pad (with spaces) to exactly size UTF-8 bytes; the corpus is ASCII."""
    data = text.encode("utf-8")[:size].decode("utf-8", "ignore")
    return data + " " * (size - len(data.encode("utf-8")))


def _prose(rng: random.Random, n_words: int) -> str:
    sentences = []
    while n_words > 0:
        length = rng.randint(8, 24)
        words = [rng.choice(_WORDS) for _ in range(min(length, n_words))]
        sentences.append(" ".join(words).capitalize() + ".")
        n_words -= length
    return " ".join(sentences)


def llm_request(rng: random.Random, secret: str | None = None) -> str:
    """An OpenAI-style chat completion request: history, tool calls with JSON-in-JSON args."""
    messages = [{"role": "system", "content": "You are PicoClaw, a helpful assistant. " + _prose(rng, 60)}]
    while len(json.dumps(messages)) < SIZE - 4096:
        messages.append({"role": "user", "content": _prose(rng, rng.randint(20, 120))})
        if rng.random() < 0.4:
            args = {"path": f"/workspace/project/src/module_{rng.randint(1, 99)}.py", "limit": 200}
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{rng.getrandbits(48):x}", "type": "function",
                 "function": {"name": "read_file", "arguments": json.dumps(args)}}]})
            code = "\n".join(f"    value_{i} = compute(\"{rng.choice(_WORDS)}\", {i})" for i in range(20))
            messages.append({"role": "tool", "tool_call_id": "call_x", "content": f"def run():\n{code}\n"})
        messages.append({"role": "assistant", "content": _prose(rng, rng.randint(40, 200))})
    if secret:
        messages.append({"role": "user", "content": f"use this key for the deploy step: {secret}"})
    body = {"model": "gpt-4o-mini", "stream": True, "temperature": 0.2, "messages": messages,
            "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]}
    return json.dumps(body)


def prose_answer(rng: random.Random, secret: str | None = None) -> str:
    paragraphs = [_prose(rng, rng.randint(60, 160)) for _ in range(120)]
    if secret:
        paragraphs.insert(len(paragraphs) // 2, f"The environment had OPENAI_API_KEY={secret} set.")
    paragraphs.insert(10, "To install, run `pip install picoclaw` and then `picoclaw start --port 18790`.")
    return "\n\n".join(paragraphs)


def html_page(rng: random.Random, secret: str | None = None) -> str:
    rows = []
    for i in range(400):
        rows.append(f'<tr class="row-{i % 7}"><td><a href="/docs/page-{i}?ref=nav&amp;lang=en">'
                    f"{rng.choice(_WORDS).title()}</a></td><td>{_prose(rng, 12)}</td></tr>")
    script = ('<script>window.__STATE__ = {"user": null, "flags": {"beta": true}, "build": "'
              + f'{rng.getrandbits(64):x}"' + "};</script>")
    meta = f'<meta name="api-key" content="{secret}">' if secret else ""
    return (f"<!doctype html><html><head><title>Docs</title>{meta}{script}"
            '<link rel="stylesheet" href="/static/site.css?v=3"></head><body><table>'
            + "".join(rows) + "</table></body></html>")


def base64_payload(rng: random.Random, secret: str | None = None) -> str:
    """A vision request: a PNG-ish binary data URL plus a base64-encoded text attachment."""
    image = base64.b64encode(rng.randbytes(40 * 1024)).decode()
    text = _prose(rng, 800) + (f"\nAWS key for the bucket: {secret}\n" if secret else "")
    attachment = base64.b64encode(text.encode()).decode()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture, and summarise the attached notes."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + image}},
        {"type": "file", "file": {"filename": "notes.txt", "file_data": attachment}}]}]}
    return json.dumps(body)


def sse_stream(rng: random.Random, secret: str | None = None) -> str:
    """A streamed chat completion as it arrives at the agent (inbound)."""
    events = []
    while sum(map(len, events)) < SIZE:
        delta = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"content": " ".join(rng.choice(_WORDS) for _ in range(4))}}]}
        events.append("data: " + json.dumps(delta) + "\n\n")
    return "".join(events)


def mixed_corpus(seed: int = 7, copies: int = 2) -> list[Sample]:
    """Outbound and inbound 64 KiB documents; a few carry a planted fake secret."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    planted = [fakes.openai_project_key(), fakes.aws_access_key_id(), fakes.github_token(), fakes.anthropic_key()]
    for copy in range(copies):
        secret = planted[copy % len(planted)] if copy % 2 == 0 else None
        samples += [
            Sample("llm_request_json", OUTBOUND, _fit(llm_request(rng, secret))),
            Sample("prose", OUTBOUND, _fit(prose_answer(rng, planted[(copy + 1) % len(planted)])), "text/plain"),
            Sample("html", INBOUND, _fit(html_page(rng)), "text/html"),
            Sample("base64_vision_request", OUTBOUND, _fit(base64_payload(rng, planted[1] if copy == 0 else None))),
            Sample("sse_stream", INBOUND, _fit(sse_stream(rng)), "text/event-stream"),
            Sample("prose_answer", INBOUND, _fit(prose_answer(rng)), "text/plain"),
            Sample("html_outbound_form", OUTBOUND, _fit(html_page(rng, secret)), "text/html"),
        ]
    return samples


# -- adversarial ----------------------------------------------------------------------

# Characters regexes consume in long runs: letters, digits, separators, whitespace, path
# and escape characters. One of them usually extends a near-match as far as it can go.
_FILLERS = ("A", "a", "0", "-", "_", " ", "\t", "/", ".", ":", "=", "\\", "$", "|")


def _repeat(unit: str) -> str:
    return _fit(unit * (SIZE // max(1, len(unit)) + 1))


def adversarial_for_rule(rule: Rule, full: bool = False) -> list[Sample]:
    """Inputs that pass the rule's keyword prefilter and then make its regex work hardest."""
    keywords = rule.keywords or (_fallback_keyword(rule),)
    runs = (1, 40, 300, SIZE) if full else (SIZE,)
    fillers = _FILLERS if full else ("A", " ", "/")
    samples: list[Sample] = []
    for keyword in keywords[: None if full else 2]:
        spelled = _original_case(rule, keyword)
        spellings = {keyword, keyword.upper(), spelled} if full else {spelled}
        for variant in spellings:
            samples.append(Sample(f"{rule.rule_id}/kw-repeat", rule.direction, _repeat(variant + " ")))
            samples.append(Sample(f"{rule.rule_id}/kw-glued", rule.direction, _repeat(variant)))
            for filler in fillers:
                for run in runs:
                    samples.append(Sample(f"{rule.rule_id}/kw+{filler!r}x{run}", rule.direction,
                                          _repeat(variant + filler * run)))
    for shape, text in _crafted(rule).items():
        samples.append(Sample(f"{rule.rule_id}/{shape}", rule.direction, _repeat(text)))
    unique: dict[str, Sample] = {}
    for sample in samples:
        unique.setdefault(sample.text, sample)
    return list(unique.values())


def _original_case(rule: Rule, keyword: str) -> str:
    """The keyword as the regex spells it ('AKIA', 'sk-proj-'), found case-insensitively."""
    index = rule.regex.lower().find(keyword)
    return rule.regex[index : index + len(keyword)] if index >= 0 else keyword


def _fallback_keyword(rule: Rule) -> str:
    # Rules without keywords (discord bot token) run on every view: feed them their lead.
    return "MTA"


def _crafted(rule: Rule) -> dict[str, str]:
    """Near-matches one step short of a real match, for the shapes generic fillers miss."""
    key = fakes.rand(60)
    shapes = {
        "secret_assignment": f"aws_secret_access_key = {fakes.rand(39)}\n",
        "pem_no_footer": "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIB" * 2000,
        "rm_options": "rm " + "-rf " * 30 + "\n",
        "netcat_no_exec": "nc " + "-l " * 60 + "\n",
        "mkfifo_no_pipe": "mkfifo /tmp/f " + "x" * 190 + "\n",
        "jwt_two_parts": "eyJ" + "a" * 1990 + ".eyJ" + "b" * 900 + ".",
        "ssh_key_no_target": "ssh-ed25519 AAAA" + "C" * 1000 + " " * 290 + ">\n",
        "python_c_no_call": "python3 -c '" + "x" * 299 + "'\n",
        "pipe_no_shell": "curl https://example.invalid/install | " + "s" * 50 + "\n",
        "dotenv_near": "export " + "A" * 60 + "_TOKEN=" + "\n",
        "key_plus_one": "sk-proj-" + key + key + key + key + key,
        "netrc_no_password": "machine " + "h" * 250 + " login " + "u" * 120 + " pass\n",
        "docker_auths_open": '"auths": {' + "x" * 511 + "{",
        "discord_near": "MTA" + fakes.rand(22) + "." + fakes.rand(6) + "." + fakes.rand(26) + " ",
        "powershell_no_enc": "powershell " + "-x " * 70 + "\n",
        "perl_no_exec": "perl -e " + "socket " * 60 + "\n",
        "traversal": "../" * 20 + "etc/passw\n",
    }
    return shapes


def decoder_bombs() -> list[Sample]:
    """Inputs aimed at decode.py: every layer fires, with as much work as the bounds allow."""
    text = _prose(random.Random(1), 2000)
    nested = json.dumps({"a": json.dumps({"b": text[:4000] + "\\u002f" * 200})})
    deep = quote(quote("%" + "/x=" * 8000, safe=""), safe="")
    small_runs = " ".join(base64.b64encode(f"line {i} of notes".encode()).decode() for i in range(4000))
    return [
        Sample("decode/percent_double", OUTBOUND, _fit(deep), "application/x-www-form-urlencoded"),
        Sample("decode/json_escapes", OUTBOUND, _fit(json.dumps({"k": "\\\"/\n" * 9000}))),
        Sample("decode/json_nested", OUTBOUND, _fit(json.dumps([nested] * 20))),
        Sample("decode/json_deep_array", OUTBOUND, _fit("[" * 30000 + "\\" + "]" * 30000)),
        Sample("decode/base64_text_run", OUTBOUND, _fit(base64.b64encode((text * 3).encode()).decode())),
        Sample("decode/base64_many_runs", OUTBOUND, _fit(small_runs)),
        Sample("decode/base64_of_percent", OUTBOUND,
               _fit(quote(base64.b64encode((text * 3).encode()).decode(), safe=""))),
        Sample("decode/base64_inbound", INBOUND, _fit(base64.b64encode(("curl x | sh\n" * 6000).encode()).decode())),
    ]


def adversarial_corpus(full: bool = False) -> list[Sample]:
    samples: list[Sample] = []
    for rule in RULESET:
        samples += adversarial_for_rule(rule, full)
    samples += decoder_bombs()
    return samples
