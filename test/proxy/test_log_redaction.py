"""log_redaction: the monitor's own output never carries a URL path, a credential or a known secret."""

from __future__ import annotations

import io
import logging

import fakes
from traffic_guardian.detect.engine import Engine
from traffic_guardian.proxy.log_redaction import (
    LogRedactor,
    RedactingStream,
    install_record_factory,
    mask_credential_fields,
    strip_urls,
    uninstall_record_factory,
)


def test_urls_lose_path_query_and_userinfo():
    token = fakes.telegram_bot_token()
    line = f"server connection to https://user:pw@api.telegram.org:443/bot{token}/getMe?x=1 failed"
    cleaned = strip_urls(line)
    assert cleaned == "server connection to https://api.telegram.org:443/[path elided] failed"
    assert strip_urls("connect to http://127.0.0.1:8080 refused") == "connect to http://127.0.0.1:8080 refused"


def test_credential_fields_are_masked_but_ordinary_words_stay():
    assert mask_credential_fields("Authorization: Bearer abc.def") == "Authorization: [REDACTED]"
    assert mask_credential_fields('{"api_key": "zzz"}') == '{"api_key": "[REDACTED]"}'
    # One following word goes too ("Bearer <token>", "Basic <b64>"): over-masking a log is the safe side.
    assert mask_credential_fields("token=abc123 more, rest") == "token=[REDACTED], rest"
    assert mask_credential_fields("tokenizer loaded; secrets are safe") == "tokenizer loaded; secrets are safe"


def test_engine_masks_known_secrets_in_free_text():
    key = fakes.openai_project_key()
    redactor = LogRedactor(Engine().redact_text)
    out = redactor(f"upstream said: invalid key {key}")
    assert key not in out and "[REDACTED ai_api_key sk-proj-" in out


def test_redaction_failure_withholds_the_line():
    def broken(_text):
        raise RuntimeError("boom")

    assert LogRedactor(broken)("anything") == "[log line withheld: redaction failed]"


def test_every_log_record_is_redacted_at_creation_with_tracebacks():
    key = fakes.github_token()
    install_record_factory(LogRedactor(Engine().redact_text))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test_log_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("request to %s failed", f"http://h.example/x?token={key}")
        try:
            raise ValueError(f"bad payload {key}")
        except ValueError:
            logger.exception("while scanning")
    finally:
        logger.removeHandler(handler)
        uninstall_record_factory()
    text = stream.getvalue()
    assert key not in text
    assert "http://h.example/[path elided]" in text and "ValueError" in text


def test_redacting_stream_redacts_whole_lines_and_caps_output():
    key = fakes.slack_bot_token()
    target = io.StringIO()
    stream = RedactingStream(target, LogRedactor(Engine().redact_text), max_bytes=200)
    stream.write(f"part one {key[:10]}")
    stream.write(f"{key[10:]} end\n")
    assert key not in target.getvalue() and "[REDACTED slack_token" in target.getvalue()
    for _ in range(20):
        stream.write("x" * 50 + "\n")
    assert len(target.getvalue()) < 400 and target.getvalue().endswith("further output dropped]\n")
