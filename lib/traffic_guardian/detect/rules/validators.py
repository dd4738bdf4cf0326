"""Checks a regex cannot express cheaply: entropy, checksums, context on the same line.

Each takes (match, text) and returns True to keep the match. They exist for precision:
placeholders like sk-xxxxxxxx... and prose that merely mentions a command must not fire.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import re
import threading
from collections import Counter


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _secret_of(match: re.Match) -> str:
    return match.group("secret") if "secret" in match.re.groupindex else match.group(0)


def high_entropy(threshold: float) -> callable:
    """Reject low-entropy matches (placeholders, repeated characters, sample values) and
    values that are one short unit repeated ('1234567890abcdef' twice): random keys never are."""

    def check(match: re.Match, _text: str) -> bool:
        value = _secret_of(match)
        return shannon_entropy(value) >= threshold and not _repeated_unit(value)

    return check


def _repeated_unit(value: str, longest: int = 16) -> bool:
    """The random part (after the last '_' or '-' of a prefix) is a unit of <= longest characters repeated."""
    body = re.split(r"[_-]", value, maxsplit=1)[-1] if len(value) > 24 else value
    for size in range(1, min(longest, len(body) // 2) + 1):
        if len(body) % size == 0 and body == body[:size] * (len(body) // size):
            return True
    return False


def mixed_alnum_entropy(threshold: float) -> callable:
    """Real keys mix letters and digits; 'sk-thisisnotakeybutaverylongword' does not."""

    def check(match: re.Match, _text: str) -> bool:
        value = _secret_of(match)
        return (
            any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value)
            and shannon_entropy(value) >= threshold
        )

    return check


def all_of(*checks) -> callable:
    """Keep a match only when every check keeps it (checks compose as data in a rule record)."""

    def check(match: re.Match, text: str) -> bool:
        return all(each(match, text) for each in checks)

    return check


# Values people paste into docs and config templates instead of a real secret.
_PLACEHOLDER_START = ("your", "<", "${", "$(", "{{", "%(", "replace", "insert", "change", "enter")
_PLACEHOLDER_WORDS = ("example", "placeholder", "changeme", "xxxx", "****", "....", "dummy", "redacted")


# Documented placeholders seen in vendor docs, READMEs and PicoClaw's own examples:
# 'sk-your-openai-key', 'YOUR_TELEGRAM_BOT_TOKEN', 'xoxb-YOUR-BOT-TOKEN', 'sk-or-v1-xxx',
# 'sk-or-v1-your-api-key-here', 'sk-proj-...', 'sk-or-v1-abc123def456...', '<your-api-key>'.
_PLACEHOLDER_SHAPE = re.compile(r"(?:^|[^a-z])your(?:[^a-z]|key|token|secret|api|app|bot|client|access|own)"
                                r"|[-_.]here$|\.\.\.|\u2026|[-_]x{3,}$|abc123|<[^<>]{1,64}>")


def not_placeholder(match: re.Match, _text: str) -> bool:
    """Reject template values ('your-key-here', '${API_KEY}', 'changeme', 'xxxx...', 'sk-your-openai-key')."""
    value = _secret_of(match).lower().strip("\"'")
    return (not value.startswith(_PLACEHOLDER_START) and not any(word in value for word in _PLACEHOLDER_WORDS)
            and not _PLACEHOLDER_SHAPE.search(value))


def assigned_secret(match: re.Match, text: str) -> bool:
    """A KEY=value that holds a secret: not a template, a plain URL or a file path.

    AUTH_TOKEN_URL=https://... and API_KEY_FILE=/run/secrets/key name where a secret is,
    not the secret; a URL with userinfo (user:pass@) does carry one.
    """
    value = _secret_of(match).strip("\"'")
    if value.startswith(("/", "./", "../", "~/")):
        return False
    if "://" in value and "@" not in value:
        return False
    return not_placeholder(match, text)


def group_contains(group: str, needle: str) -> callable:
    """The named group contains needle (a netrc host has a dot; 'machine learning' does not)."""

    def check(match: re.Match, _text: str) -> bool:
        return needle in (match.group(group) or "")

    return check


def not_documented_example(match: re.Match, _text: str) -> bool:
    """AWS documents key ids ending in EXAMPLE (AKIAIOSFODNN7EXAMPLE); they are never real."""
    return not _secret_of(match).endswith("EXAMPLE")


def discord_token(match: re.Match, _text: str) -> bool:
    """A Discord bot token's first segment is the bot's numeric user id in base64."""
    first = _secret_of(match).split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit() and 15 <= len(decoded) <= 21


_DOWNLOADER = re.compile(r"\b(?:curl|wget|fetch|aria2c|Invoke-WebRequest|iwr)\b")
DOWNLOADER_LOOK_BACK = 400


class _Downloaders(threading.local):
    """The downloaders found so far in the text whose matches are being validated.

    A match's look-back (to its line start, at most DOWNLOADER_LOOK_BACK chars) overlaps the
    previous match's: searching each whole window again made a 64 KiB line of 'perl|perl|'
    cost 13,000 searches of 400 chars (95 ms). Matches come in order, so each stretch of
    text is searched once and the windows only ask which downloaders lie inside them."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.searched_to = 0
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.whole_text: str | None = None  # the text any_in() last answered for
        self.whole_text_has_one = False

    def any_in(self, text: str) -> bool:
        """Whether a downloader word occurs anywhere in text: one search per text, so a body of
        '| sh' or 'perl|' repeats with no downloader at all costs each match one test."""
        if text is not self.whole_text:
            self.whole_text, self.whole_text_has_one = text, _DOWNLOADER.search(text) is not None
        return self.whole_text_has_one

    def inside(self, text: str, start: int, end: int) -> bool:
        """Whether a whole downloader word lies in text[start:end]."""
        if text is not self.text or end < self.searched_to:  # another text, or a new pass over it
            self.text, self.searched_to, self.starts, self.ends = text, 0, [], []
        begin = max(start, self.searched_to)
        if begin < end:
            for found in _DOWNLOADER.finditer(text, begin, end):
                self.starts.append(found.start())
                self.ends.append(found.end())
            self.searched_to = end
        # Found words never overlap, so the one ending last before end starts last too.
        last = bisect.bisect_right(self.ends, end) - 1
        return last >= 0 and self.starts[last] >= start


_downloaders = _Downloaders()


def downloader_earlier_on_line(match: re.Match, text: str) -> bool:
    """'| bash' counts as pipe-to-shell only when a downloader feeds the same line.

    The look-back is bounded (DOWNLOADER_LOOK_BACK chars): an unbounded rfind for the line
    start would make a long line of '| bash' repeats quadratic; and the text between two
    matches is searched for downloaders once (_Downloaders), not once per match.
    """
    if not _downloaders.any_in(text):
        return False
    window_start = max(0, match.start() - DOWNLOADER_LOOK_BACK)
    window_start = text.rfind("\n", window_start, match.start()) + 1 or window_start
    return _downloaders.inside(text, window_start, match.start())


_RECURSIVE_OPTION = re.compile(r"(?:^|\s)(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)(?=\s|$)")


def recursive_rm(match: re.Match, _text: str) -> bool:
    """rm targets a root-like path AND carries -r/-R/--recursive among its options."""
    return _RECURSIVE_OPTION.search(match.group("opts")) is not None


def runs_the_chmodded_file(match: re.Match, _text: str) -> bool:
    """The command run after chmod is the file chmod made executable (by base name), and the
    mode given in digits does make it executable."""
    mode = match.group(0).split("chmod", 1)[1].split()[0]
    if mode.isdigit() and not any(int(digit) & 1 for digit in mode[-3:]):
        return False
    file, run = match.group("file"), match.group("run")
    return file.rstrip("/").rsplit("/", 1)[-1] == run.rstrip("/").rsplit("/", 1)[-1] != ""


_SHELL_ATTACHED = re.compile(r"\b(?:ba|z|da|k)?sh\b[^\n]{0,40}?[ \t]-i\b|[0-9]?>&[ \t]*[0-9]|<&[ \t]*[0-9]|"
                             r"\bexec[ \t]+[0-9]+<>|\|[ \t]*while[ \t]+read\b")
_LOOPBACK_HOSTS = re.compile(r"(?:127(?:\.\d{1,3}){3}|localhost|::1|0\.0\.0\.0)")


def not_a_loopback_port_probe(match: re.Match, text: str) -> bool:
    """`echo > /dev/tcp/127.0.0.1/8080` checks whether a local port is open; a reverse shell
    attaches a shell (`-i`, `0>&1`, `<&5`, `exec 5<>`). Loopback with no shell: not one."""
    if _LOOPBACK_HOSTS.fullmatch(match.group("host")) is None:
        return True
    line_start = text.rfind("\n", max(0, match.start() - 400), match.start()) + 1
    line_end = text.find("\n", match.end(), match.end() + 400)
    line = text[line_start:line_end if line_end != -1 else match.end() + 400]
    return _SHELL_ATTACHED.search(line) is not None


def none_earlier_on_line(pattern: str, window: int = 1400):
    """Keep a match only when pattern does not occur before it on the same line.

    For a general variant whose specific sibling already owns that line: one command that
    writes a public key into authorized_keys is one finding (key_appended), not two.
    """
    compiled = re.compile(pattern)

    def check(match: re.Match, text: str) -> bool:
        line_start = text.rfind("\n", 0, match.start()) + 1
        return compiled.search(text, max(line_start, match.start() - window), match.start()) is None

    return check

