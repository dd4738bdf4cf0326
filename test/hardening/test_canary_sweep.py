"""The canary sweep (test/canary.py) itself: every form it promises is found, in any file under
the home (nested, any name) and in any captured output, bytes or text, and a clean run is clean."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

import fakes
from canary import assert_no_leak, find_leaks


def embeddings(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    return {
        "raw": b"x=" + raw + b"&",
        "url": quote("note " + secret, safe="").encode(),
        "url lowercase": re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")).encode(),
        "url plus": quote_plus("a b " + secret).encode(),
        "json": json.dumps({"k": "line\n" + secret + "\"q\""}).encode(),
        **{f"base64 after {n} bytes": base64.b64encode(b"p" * n + raw + b"tail") for n in range(6)},
        **{f"base64url after {n} bytes": base64.urlsafe_b64encode(b"\xfb" * n + raw) for n in range(3)},
    }


@pytest.mark.parametrize("form", list(embeddings("x" * 40)))
def test_each_form_is_found_in_files_under_the_home_and_in_outputs(tmp_path, form):
    secret = fakes.openai_project_key() + "/+?&"  # characters that change under each encoding
    data = embeddings(secret)[form]
    nested = tmp_path / "home" / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "anything.bin").write_bytes(b"\0" + data + b"\0")
    assert find_leaks([secret], home=tmp_path / "home")
    assert find_leaks([secret], outputs=[data])
    assert find_leaks([secret], outputs=[data.decode("latin-1")])


def test_a_clean_home_and_clean_outputs_pass(tmp_path):
    secret = fakes.github_token()
    (tmp_path / "log").write_text("[REDACTED github_token ghp_ len=40 fp=0123456789ab]")
    assert_no_leak([secret], home=tmp_path, outputs=[b"nothing", "here", None])
