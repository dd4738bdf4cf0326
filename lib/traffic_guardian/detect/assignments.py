"""Values assigned to credential-named keys: masked in every snippet, whatever their shape.

A leaked `.env`, config file or shell history holds `DB_PASSWORD=...`, `SECRET_KEY = '...'`,
`token: ...` or `"api_key": "..."` whose values no key rule recognises (a short password,
a random word). A finding about something else in the same text (the path of the file, a
private key two lines down) must not show them in its context. This is redaction only:
which of these are findings is the dotenv rules' job (rules/exfil.py), with their
entropy and placeholder checks; here a false mask costs a few characters of context, a
missed one costs a password.

Redactor.snippet runs this around each snippet's window (and a log line is one window),
so the cost follows what is shown, not the size of the body. The keywords are
found with str.find on the lowercased text (one C scan each, where a regex alternation
would try every position), and the regex after each keyword is anchored there, bounded
and possessive, so it stays linear.
"""

from __future__ import annotations

import re

ASSIGNED_LABEL = "assigned_value"
LABEL = ASSIGNED_LABEL
MAX_ASSIGNED_VALUE = 256
# How far before its value a keyword can start: keyword, rest of the key, quotes, separator, scheme.
ASSIGNMENT_REACH = 96

# Lowercase; a keyword counts only where no letter precedes it ('bypass' is not 'pass').
KEYWORDS = ("pass", "pwd", "secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key",
            "access-key", "privatekey", "private_key", "private-key", "credential", "authorization", "auth")
_NOT_AFTER = {"token": "s", "auth": "or"}  # 'max_tokens: 1024', 'author: ...'

# What follows a keyword: the rest of the key, an optional closing quote, the separator,
# an optional auth scheme, then the value (quoted, JSON-escaped quoted, or bare).
AFTER_KEYWORD = re.compile(
    r"[\w.-]{0,32}+(?:\\{0,3}+[\"'])?[ \t]{0,8}+[:=][ \t]{0,8}+"
    r"(?:(?i:bearer|basic|token|bot)[ \t]{1,4}+)?"
    r"(?:\\{0,3}+\"(?P<dq>[^\"\\\r\n]{4,256}+)|'(?P<sq>[^'\\\r\n]{4,256}+)"
    r"|(?P<bare>[^\s\"'\\,;&<>{}\[\]()]{4,256}+))"  # 256: MAX_ASSIGNED_VALUE
)


def assignment_spans(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, LABEL, '') of every value assigned to a credential-named key in text."""
    lower = text.lower()
    spans = []
    for end_of_keyword in sorted(_keyword_ends(lower)):
        match = AFTER_KEYWORD.match(text, end_of_keyword)
        if match is None:
            continue
        group = next(name for name in ("dq", "sq", "bare") if match.group(name) is not None)
        if not names_a_place(match.group(group)):
            spans.append((match.start(group), match.end(group), LABEL, ""))
    return spans


def _keyword_ends(lower: str) -> set[int]:
    ends = set()
    for keyword in KEYWORDS:
        refused = _NOT_AFTER.get(keyword)
        start = lower.find(keyword)
        while start != -1:
            end = start + len(keyword)
            if not (start and lower[start - 1].isalpha()) and not (refused and lower.startswith(refused, end)):
                ends.add(end)
            start = lower.find(keyword, end)
    return ends


def names_a_place(value: str) -> bool:
    """A file path or a plain URL says where a secret is (KEY_FILE=/run/secrets/key), and a
    finding about that path must still show it; a URL with userinfo (user:pass@) is masked."""
    if value.startswith(("/", "./", "../", "~/")):
        return True
    return "://" in value and "@" not in value
