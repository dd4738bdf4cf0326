"""Redaction of the monitor's own output: mitmproxy log records and anything printed.

Findings are redacted by construction; the proxy's own log lines are not. mitmproxy's
per-flow output is switched off (flow_detail 0, termlog at warn), but errors and warnings
can still quote a URL ("server connection to ... failed"), a header or an exception
message built from traffic. URLs carry secrets in their path and query (Telegram
`/bot<token>/`, `?key=`), so every URL is cut to scheme://host:port, credential-like
header assignments are masked, and the engine masks any secret the rules know. This is
applied at LogRecord creation (every logger, every handler) and on sys.stdout/sys.stderr.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable

# scheme://[userinfo@]host[:port] followed by anything up to whitespace or a quote.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,15})://(?:[^\s/@\"'<>]{0,256}@)?([^\s/?#\"'<>]{1,300})"
                  r"([^\s\"'<>]{0,8192})")
# name: value / name=value for names that carry credentials; the value is masked to the end of the field.
_CREDENTIAL_FIELD = re.compile(
    r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key|api[-_]key|x-goog-api-key|token|"
    r"password|passwd|secret)(\"?\s{0,4}[:=]\s{0,4}\"?)([^\s\"',;]{1,8192}(?: [^\s\"',;]{1,8192})?)")
MAX_LINE_CHARS = 4000


def strip_urls(text: str) -> str:
    """Every URL cut to scheme://host:port; a dropped path or query leaves a marker."""

    def shorten(match: re.Match) -> str:
        scheme, host, rest = match.group(1), match.group(2), match.group(3)
        return f"{scheme}://{host}" + ("/[path elided]" if rest else "")

    return _URL.sub(shorten, text)


def mask_credential_fields(text: str) -> str:
    return _CREDENTIAL_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)


class LogRedactor:
    """text -> text safe for a log: URLs shortened, credential fields and known secrets masked."""

    def __init__(self, redact_secrets: Callable[[str], str] | None = None):
        self.redact_secrets = redact_secrets

    def __call__(self, text: str) -> str:
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + " [truncated]"
        text = mask_credential_fields(strip_urls(text))
        if self.redact_secrets is not None:
            try:
                text = self.redact_secrets(text)
            except Exception:  # never let redaction failure print the unredacted text
                return "[log line withheld: redaction failed]"
        return text


_installed: dict[str, object] = {}
_install_lock = threading.Lock()


def install_record_factory(redactor: LogRedactor, replace: bool = True) -> None:
    """Redact every LogRecord as it is created, whatever logger or handler it goes to.

    Idempotent: a second call swaps the redactor (e.g. once the engine is configured),
    unless replace is False and one is already in place.
    Tracebacks are rendered and redacted here too, since exception messages quote traffic.
    """
    with _install_lock:
        if replace or "redactor" not in _installed:
            _installed["redactor"] = redactor
        if "factory" in _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            current = _installed["redactor"]
            try:
                message = record.getMessage()
            except Exception:
                message = str(record.msg)
            record.msg = current(message)
            record.args = None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = current(text)
                record.exc_info = None
            return record

        logging.setLogRecordFactory(factory)
        _installed["factory"] = factory
        _installed["previous"] = previous


def uninstall_record_factory() -> None:
    """Put back the factory that was in place before install_record_factory (for tests)."""
    with _install_lock:
        factory = _installed.pop("factory", None)
        previous = _installed.pop("previous", None)
        _installed.pop("redactor", None)
        if factory is not None and logging.getLogRecordFactory() is factory and previous is not None:
            logging.setLogRecordFactory(previous)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each complete line before passing it to `target`.

    Used for sys.stdout/sys.stderr of the monitor process, so print() and warnings from
    mitmproxy or its libraries go through the same redaction as log records. The output
    is capped (`max_bytes`) so a looping error cannot fill the disk.
    """

    def __init__(self, target, redactor: LogRedactor, max_bytes: int = 5 * 1024 * 1024):
        super().__init__()
        self.target = target
        self.redactor = redactor
        self.max_bytes = max_bytes
        self.written = 0
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False  # no colour codes in a log file; mitmproxy asks before using them

    @property
    def encoding(self) -> str:
        return "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if len(self._pending) > MAX_LINE_CHARS * 4 and "\n" not in self._pending:
                self._pending += "\n"  # an endless line is cut rather than buffered forever
            while "\n" in self._pending:
                line, self._pending = self._pending.split("\n", 1)
                self._emit(self.redactor(line) + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            try:
                self.target.flush()
            except (OSError, ValueError):
                pass

    def close_pending(self) -> None:
        with self._lock:
            if self._pending:
                self._emit(self.redactor(self._pending) + "\n")
                self._pending = ""

    def _emit(self, line: str) -> None:
        if self.written >= self.max_bytes:
            return
        if self.written + len(line) >= self.max_bytes:
            line = "[output cap reached; further output dropped]\n"
        self.written += len(line)
        try:
            self.target.write(line)
            self.target.flush()
        except (OSError, ValueError):
            pass
