"""Redaction holds under every encoding (SPEC.md section 7): a secret spelled with escapes for
some of its characters (JSON `\\u00XX`, nested JSON-in-JSON, percent escapes, HTML entities,
mixed and layered) is masked in every snippet and log line, and so is the value of a
credential assignment that no key rule recognises.

The check is stricter than the canary's exact forms: outputs are unescaped the way a reader
would read them, and no 12-character run of a secret's random part may remain.
"""

from __future__ import annotations

import base64
import html.entities
import json
import random
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fakes
from canary import RUN, read_as_a_person_would
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.detect.known_secrets import ConfiguredSecret, KnownSecretSet
from traffic_guardian.detect.redact import Redactor

PUBLIC_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-ant-api03-", "sk-or-v1-", "sk-", "AIza", "gsk_",
                   "xai-", "pplx-", "hf_", "tvly-", "r8_", "AKIA", "ghp_", "github_pat_", "xoxb-", "sk_live_",
                   "pypi-AgEIcHlwaS5vcmc", "ATATT3xFfGF0", "rubygems_", "dckr_pat_")
# One character's HTML5 names ('/' -> 'sol'), for spelling punctuation with named references.
NAMED = {}
for _name, _char in html.entities.html5.items():
    if _name.endswith(";") and len(_char) == 1:
        NAMED.setdefault(_char, _name[:-1])

OPAQUE = fakes.opaque_secret(40)
FAMILIES = {
    **fakes.TOKEN_GENERATORS,
    **fakes.SERVICE_TOKEN_GENERATORS,
    "aws_secret_access_key": lambda: "aws_secret_access_key=" + fakes.aws_secret_access_key(),
    "pem_private_key": fakes.pem_private_key,
    "known_opaque": lambda: OPAQUE,  # no shape: masked because the PicoClaw config holds it
}
ENGINE = Engine(context_chars=80, redactor=Redactor(b"k" * 32),
                known_secrets=KnownSecretSet([ConfiguredSecret(OPAQUE, "web:brave", "web_tool_key", "config.json")],
                                             lambda value: "fp"))


def random_runs(secret: str) -> list[str]:
    """The parts of a secret a leak would show: without its public prefix; a PEM block's body lines."""
    if secret.startswith("aws_secret_access_key="):
        return [secret.split("=", 1)[1]]
    if secret.startswith("-----BEGIN"):
        return [line for line in secret.splitlines() if not line.startswith("-----")]
    prefix = max((p for p in PUBLIC_PREFIXES if secret.startswith(p)), key=len, default="")
    return [secret[len(prefix):]]


def leaked_runs(secret: str, outputs: list[str]) -> list[str]:
    readable = [read_as_a_person_would(output) for output in outputs]
    runs = []
    for part in random_runs(secret):
        for start in range(len(part) - RUN + 1):
            run = part[start:start + RUN]
            if any(run in text for text in readable):
                runs.append(run)
    return runs


# -- encodings, each applicable to any text ---------------------------------------------
# The partial ones escape a random 30% of the characters, and always the characters the
# encoding must escape to stay decodable (its own escape character, JSON's quote and controls),
# so each layer is a valid encoding of the one below, as real nesting is.

def json_escaped(text: str, _rng) -> str:
    return json.dumps(text)[1:-1]


def json_u_partial(text: str, rng) -> str:
    def escape(c: str) -> str:
        must = c in '"\\' or ord(c) < 0x20
        if not must and rng.random() >= 0.3:
            return c
        if c in '"\\' and rng.random() < 0.5:
            return "\\" + c
        return f"\\u{ord(c):04{rng.choice('xX')}}"

    return "".join(escape(c) for c in text)


def url_quoted(text: str, _rng) -> str:
    return quote(text, safe="")


def url_partial(text: str, rng) -> str:
    return "".join("".join(f"%{b:02{rng.choice('xX')}}" for b in c.encode())
                   if c == "%" or not c.isascii() or rng.random() < 0.3 else c for c in text)


def html_partial(text: str, rng) -> str:
    def entity(c: str) -> str:
        form = rng.randrange(3)
        if form == 0:
            return f"&#{ord(c)};"
        if form == 1:
            return f"&#x{ord(c):x};"
        return f"&{NAMED[c]};" if c in NAMED else f"&#{ord(c)};"

    return "".join(entity(c) if c == "&" or rng.random() < 0.3 else c for c in text)


def base64_encoded(text: str, _rng) -> str:
    return base64.b64encode(text.encode()).decode()


ENCODINGS = [json_escaped, json_u_partial, url_quoted, url_partial, html_partial, base64_encoded]


def spell(secret: str, encodings, seed: int) -> str:
    rng = random.Random(seed)
    for encode in encodings:
        secret = encode(secret, rng)
    return secret


def outputs_of(body: str) -> list[str]:
    findings = ENGINE.scan(Exchange(direction=OUTBOUND, dest="collector.example:443", body=body))
    return [finding.to_json() for finding in findings] + [ENGINE.redact_text(body)]


# -- the reported break and its relatives, one case each --------------------------------

def test_json_u_escapes_inside_json_inside_json_are_masked():
    """The corpus case: ~30% of the key's characters as \\u00XX, in a JSON string inside a JSON body."""
    key = fakes.openai_project_key()
    inner = json.dumps({"blob": spell(key, [json_u_partial], 1), "note": "cat ~/.ssh/id_rsa"})
    body = json.dumps({"messages": [{"role": "user", "content": inner}]})
    outputs = outputs_of(body)
    assert any('"ssh_key_file"' in output for output in outputs)
    assert leaked_runs(key, outputs) == []


@pytest.mark.parametrize("encodings", [
    [json_u_partial], [json_u_partial, json_escaped, json_escaped], [url_partial], [url_partial, url_quoted],
    [html_partial], [html_partial, html_partial], [url_partial, json_u_partial], [html_partial, url_partial],
], ids=lambda encodings: "+".join(e.__name__ for e in encodings))
def test_partly_escaped_key_beside_another_finding_is_masked(encodings):
    key = fakes.anthropic_key()
    body = f"cat ~/.ssh/id_rsa and then {spell(key, encodings, 7)} done"
    outputs = outputs_of(body)
    assert "[REDACTED" in outputs[0]
    assert leaked_runs(key, outputs) == []


def test_fully_escaped_key_longer_than_its_decoded_form_is_masked_whole():
    key = fakes.github_token()
    spelled = "".join(f"\\\\u{ord(c):04x}" for c in key)  # 7 raw characters per key character
    outputs = outputs_of(f"cat ~/.ssh/id_rsa {spelled}")
    assert "\\\\u" not in outputs[0].split("REDACTED", 1)[1]  # none of the spelled key is left after the mask
    assert leaked_runs(key, outputs) == []


def test_a_key_cut_by_the_snippet_window_is_masked_whole():
    key = fakes.openai_project_key()
    spelled = spell(key, [url_partial], 3)
    body = "cat ~/.ssh/id_rsa" + " " * 70 + spelled  # the window's edge falls inside the spelled key
    assert leaked_runs(key, outputs_of(body)) == []


def test_a_configured_opaque_secret_spelled_with_entities_is_masked():
    body = f"cat ~/.ssh/id_rsa key={spell(OPAQUE, [html_partial], 5)}"
    outputs = outputs_of(body)
    assert leaked_runs(OPAQUE, outputs) == []


def test_escapes_that_spell_no_secret_stay_readable():
    body = "cat ~/.ssh/id_rsa &amp; echo caf\\u00e9 %2Fhome"
    finding = json.loads(outputs_of(body)[0])
    assert "REDACTED" not in finding["snippet"]
    assert "caf\\u00e9 %2Fhome" in finding["snippet"]


# -- credential assignments: masked whatever the value's shape ---------------------------

@pytest.mark.parametrize("line", [
    "DB_PASSWORD={v}",
    "export MYSQL_ROOT_PASSWORD='{v}'",
    "SECRET_KEY = '{v}'",
    "token: {v}",
    '"password": "{v}"',
    '{{\\"api_key\\": \\"{v}\\"}}',
    "Authorization: Bearer {v}",
    "passphrase={v}",
    "client_secret: {v}",
])
def test_credential_assignment_values_are_masked_in_another_findings_snippet(line):
    value = fakes.rand(10, "abcdefghijkmnopqrstuvwxyz")  # lowercase letters: no shape any key rule knows
    body = "cat ~/.ssh/id_rsa\n" + line.format(v=value) + "\n"
    outputs = outputs_of(body)
    assert '"ssh_key_file"' in outputs[0]
    assert value not in "".join(outputs)
    assert "[REDACTED assigned_value len=10" in outputs[0]


@pytest.mark.parametrize(("line", "shown"), [
    ('"max_tokens": 1024', "1024"),
    ("API_KEY_FILE=/run/secrets/openai", "/run/secrets/openai"),
    ("author: Jane Roe", "Jane"),
    ("TOKEN_URL=https://auth.example.com/token", "https://auth.example.com/token"),
    ("password: abc", "abc"),  # three characters: too short to be worth masking, nothing to triage with
])
def test_near_misses_of_credential_assignments_stay_readable(line, shown):
    finding = json.loads(outputs_of(f"cat ~/.ssh/id_rsa {line}")[0])
    assert shown in finding["snippet"]


def test_a_url_with_userinfo_assigned_to_a_credential_key_is_masked():
    password = fakes.rand(12)
    finding = json.loads(outputs_of(f"cat ~/.ssh/id_rsa DATABASE_AUTH=postgres://app:{password}@db:5432/x")[0])
    assert password not in finding["snippet"]


# -- the property -----------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(sorted(FAMILIES)),
       encodings=st.lists(st.sampled_from(ENCODINGS), min_size=1, max_size=3),
       seed=st.integers(0, 2**32), gap=st.integers(1, 60), before=st.booleans(), wrap=st.booleans())
def test_no_run_of_a_secret_survives_any_composition_of_encodings(family, encodings, seed, gap, before, wrap):
    secret = FAMILIES[family]()
    spelled = spell(secret, encodings, seed)
    trigger = "cat ~/.ssh/id_rsa"
    text = f"{trigger}{' ' * gap}{spelled}" if before else f"{spelled}{' ' * gap}{trigger}"
    body = json.dumps({"messages": [{"role": "user", "content": text}]}) if wrap else text
    leaks = leaked_runs(secret, outputs_of(body))
    assert leaks == [], (family, [e.__name__ for e in encodings], leaks[:3])
