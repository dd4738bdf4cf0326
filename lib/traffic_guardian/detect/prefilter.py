"""The prefilter: which rules can match a view, from one Hyperscan pass instead of a loop.

Before this, each rule's keywords were looked up one by one (about 130 substring searches
per view) and every rule whose keyword occurred ran its regex over the whole view, even
where the regex could never match. Now Hyperscan databases are compiled once from the
ruleset. A view that is not ASCII is scanned once with each of two:

  the lowercase database, over the lowercased view: every keyword as a literal, plus the
    gate of every case-insensitive rule (which the engine matches on the lowercased view);
  the text database, over the view itself: the gates of the case-sensitive rules.

An ASCII view (most traffic: JSON escapes its non-ASCII) is scanned once, with a third
database holding both sets, the lowercase one matched caseless, over the view itself: no
lowercased copy to make, one pass instead of two.

Another, one-pattern database finds whether a view has a run of base64 characters at all
(decode.base64_runs): most views have none, and one pass of it costs a fifth of the
translate and search that would otherwise prove it.

A rule runs when one of its keywords occurred (or it has none) and its gate matched (or it
has none). Keywords are exact substrings; a gate matches at least what the rule matches
(gate_syntax.py), so the prefilter only ever skips rules that could not have matched, and
Python's re still makes every decision. test/detect/test_prefilter.py checks both properties.

Hyperscan (a linear-time multi-pattern matcher) is optional: without it, or for a view
that is not valid UTF-8 (lone surrogates from JSON escapes), runnable() returns None and
the engine falls back to the keyword loop. Findings are the same either way. A Prefilter
is not thread-safe (it owns Hyperscan scratch space, which serves one scan at a time);
the compiled databases behind it are shared within the process and compiled on first use
(about 0.6 s), so an engine that never scans, such as the monitor's log redaction, never
pays for them.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import threading

from traffic_guardian.detect.decode import BASE64_ALPHABET, BASE64_MIN_RUN
from traffic_guardian.detect.gate_syntax import Untranslatable, gate_pattern
from traffic_guardian.detect.rules import Rule

try:
    import hyperscan
except ImportError:  # the engine stays standard-library only; this is the fast path
    hyperscan = None

log = logging.getLogger("traffic_guardian")
_MAX_PLANS = 64  # the engine asks about a handful of rule tuples (per direction, the secret rules)


class Prefilter:
    def __init__(self, rules: tuple[Rule, ...], use_hyperscan: bool = True):
        self.rules = tuple(rules)
        self._position = {id(rule): index for index, rule in enumerate(self.rules)}
        self._enabled = use_hyperscan and hyperscan is not None
        self._compiled: _Compiled | None = None
        self._scratch: tuple = (None, None, None, None)
        self._plans: dict[int, tuple[tuple[Rule, ...], _Plan | None]] = {}

    def compile(self, in_fork: bool = False) -> bool:
        """Compile now rather than on the first scan (once per process, about 0.6 s); False
        when there is no fast path. in_fork: compile in a forked process and load the
        result (see compiled_in_fork), for a long-lived process that should not keep
        Hyperscan's compiler resident."""
        if self._compiled is None and self._enabled:
            compiled = _compiled(self.rules, in_fork)
            # Scratch space belongs to this prefilter; the compiled databases are shared.
            self._scratch = compiled.scratch()
            self._compiled = compiled
        return self._compiled is not None

    @property
    def gated(self) -> frozenset[int]:
        """Positions (in rules) of the rules that have a gate."""
        return self._compiled.gated if self.compile() else frozenset()

    def runnable(self, rules: tuple[Rule, ...], text: str, lower: str | None = None) -> list[Rule] | None:
        """The rules (in order) that can match this view; None: no fast path, use the keyword loop.

        lower is text.lower(); only a view that is not ASCII needs it (made here if not given)."""
        if not self.compile():
            return None
        compiled = self._compiled
        hits: set[int] = set()

        def on_match(number, _start, _end, _flags, _context):
            hits.add(number)

        lower_scratch, text_scratch, _run_scratch, ascii_scratch = self._scratch
        if text.isascii():  # O(1): CPython knows
            compiled.ascii_db.scan(text.encode("ascii"), match_event_handler=on_match, scratch=ascii_scratch)
            plan = self._plan(rules)
            if plan is None:
                return self._each(rules, hits, text.lower(), lower_gates_hold=True)
            return plan.runnable(rules, hits)
        lower = text.lower() if lower is None else lower
        try:
            text_bytes, lower_bytes = text.encode(), lower.encode()
        except UnicodeEncodeError:  # lone surrogates: Hyperscan's UTF-8 mode needs valid UTF-8
            return None
        compiled.lower_db.scan(lower_bytes, match_event_handler=on_match, scratch=lower_scratch)
        if compiled.text_db is not None:
            compiled.text_db.scan(text_bytes, match_event_handler=on_match, scratch=text_scratch)
        # The engine matches a case-insensitive rule on the lowercased view only when
        # lowercasing kept every offset (rules/__init__.py); otherwise its gate says nothing.
        if len(lower) != len(text):
            return self._each(rules, hits, lower, lower_gates_hold=False)
        plan = self._plan(rules)
        if plan is None:
            return self._each(rules, hits, lower, lower_gates_hold=True)
        return plan.runnable(rules, hits)

    def may_hold_base64(self, text: str) -> bool:
        """False only when text has no run decode.base64_runs would find; True without a fast path."""
        if not self.compile():
            return True
        hits: list[int] = []
        # Bytes mode, not UTF-8: the run's characters are ASCII, and no byte of another
        # character's encoding (lone surrogates included) is one of them. So this is exact.
        self._compiled.run_db.scan(text.encode("utf-8", "surrogatepass"),
                                   match_event_handler=lambda number, *_: hits.append(number),
                                   scratch=self._scratch[2])
        return bool(hits)

    def _each(self, rules: tuple[Rule, ...], hits: set[int], lower: str, lower_gates_hold: bool) -> list[Rule]:
        """Rule by rule: for views whose lowercasing moved offsets, and rules this prefilter
        was not built for (which get the plain keyword test)."""
        compiled = self._compiled
        base, gated, keyword_ids_of = compiled.gate_base, compiled.gated, compiled.keyword_ids
        result = []
        for rule in rules:
            index = self._position.get(id(rule))
            if index is None:
                if not rule.keywords or any(keyword in lower for keyword in rule.keywords):
                    result.append(rule)
                continue
            keyword_ids = keyword_ids_of[index]
            if keyword_ids and hits.isdisjoint(keyword_ids):
                continue
            if index in gated and base + index not in hits and (rule.lowercase_compiled is None or lower_gates_hold):
                continue
            result.append(rule)
        return result

    def _plan(self, rules: tuple[Rule, ...]) -> _Plan | None:
        """The engine asks about the same few rule tuples on every view: plan each once."""
        cached = self._plans.get(id(rules))
        if cached is None or cached[0] is not rules:  # the tuple is held, so its id is not reused
            if len(self._plans) >= _MAX_PLANS:  # a caller with a new tuple per call: stay bounded
                self._plans.clear()
            plan = _Plan.of(rules, self._position, self._compiled)
            self._plans[id(rules)] = cached = (rules, plan)
        return cached[1]


class _Plan:
    """For one tuple of rules: which always run, and which each Hyperscan id can enable.

    Most views hit few ids (a benign body often none), so the answer is built from the hits
    rather than by testing every rule: a rule runs when it needs no keyword or one of its
    keywords hit, and it has no gate or its gate hit."""

    def __init__(self, always: list[int], enabled_by: dict[int, list[int]],
                 needs: list[tuple[frozenset[int], int | None]]):
        self.always = always
        self.enabled_by = enabled_by
        self.needs = needs  # per position in the tuple: (its keyword ids, its gate id or None)

    @classmethod
    def of(cls, rules: tuple[Rule, ...], position: dict[int, int], compiled: _Compiled) -> _Plan | None:
        always: list[int] = []
        enabled_by: dict[int, list[int]] = {}
        needs: list[tuple[frozenset[int], int | None]] = []
        for order, rule in enumerate(rules):
            index = position.get(id(rule))
            if index is None:
                return None  # a rule this prefilter was not built for: rule by rule
            keyword_ids = compiled.keyword_ids[index]
            gate = compiled.gate_base + index if index in compiled.gated else None
            needs.append((keyword_ids, gate))
            if not keyword_ids and gate is None:
                always.append(order)
            for number in (*keyword_ids, *(() if gate is None else (gate,))):
                enabled_by.setdefault(number, []).append(order)
        return cls(always, enabled_by, needs)

    def runnable(self, rules: tuple[Rule, ...], hits: set[int]) -> list[Rule]:
        if not hits:
            return [rules[order] for order in self.always]
        candidates = set(self.always)
        for number in hits:
            candidates.update(self.enabled_by.get(number, ()))
        result = []
        for order in sorted(candidates):
            keyword_ids, gate = self.needs[order]
            if (not keyword_ids or not hits.isdisjoint(keyword_ids)) and (gate is None or gate in hits):
                result.append(rules[order])
        return result


class _Compiled:
    """The Hyperscan databases of one ruleset, compiled once per process."""

    def __init__(self, rules: tuple[Rule, ...]):
        keywords = sorted({keyword for rule in rules for keyword in rule.keywords})
        keyword_id = {keyword: number for number, keyword in enumerate(keywords)}
        self.gate_base = len(keywords)
        # Per rule: the ids of its keywords (empty: no keyword needed).
        self.keyword_ids = [frozenset(keyword_id[k] for k in rule.keywords) for rule in rules]
        lower = [(_literal(k), number, hyperscan.HS_FLAG_SINGLEMATCH) for k, number in keyword_id.items()]
        text = []
        for index, rule in enumerate(rules):
            gate = _gate(rule)
            if gate is not None:
                expression, flags = gate
                (lower if rule.lowercase_compiled is not None else text).append(
                    (expression, self.gate_base + index, flags))
        self.lower_db, lower_ids = _compile(lower)
        self.text_db, text_ids = _compile(text)
        # For ASCII views, one database over the view itself: what the lowercase database
        # matches, matched caseless. On ASCII text that is keyword for keyword the same as
        # matching the lowercased text, and for a gate at least as much (the lowercased
        # text is one of the texts caseless matching accepts).
        self.ascii_db, ascii_ids = _compile([(expression, number, flags | hyperscan.HS_FLAG_CASELESS)
                                             for expression, number, flags in lower] + text)
        # A gate counts only where every database has it: a rule whose gate one of them
        # refused runs ungated, whichever database decides.
        self.gated = frozenset(number - self.gate_base for number in (lower_ids | text_ids) & ascii_ids
                               if number >= self.gate_base)
        self.run_db = _database([(_base64_run(), 0, hyperscan.HS_FLAG_SINGLEMATCH)])

    def scratch(self) -> tuple:
        return tuple(hyperscan.Scratch(db) if db is not None else None
                     for db in (self.lower_db, self.text_db, self.run_db, self.ascii_db))

    # Pickled as Hyperscan's own serialized form, so a database compiled in one process
    # can be loaded in another (compiled_in_fork).
    _DATABASES = ("lower_db", "text_db", "run_db", "ascii_db")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._DATABASES:
            if state[name] is not None:
                state[name] = hyperscan.dumpb(state[name])
        return state

    def __setstate__(self, state: dict) -> None:
        for name in self._DATABASES:
            if state[name] is not None:
                state[name] = hyperscan.loadb(state[name], hyperscan.HS_MODE_BLOCK)
        self.__dict__.update(state)


_COMPILED: dict[tuple[Rule, ...], _Compiled] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled(rules: tuple[Rule, ...], in_fork: bool = False) -> _Compiled:
    with _COMPILED_LOCK:
        if rules not in _COMPILED:
            _COMPILED[rules] = compiled_in_fork(rules) if in_fork else _Compiled(rules)
        return _COMPILED[rules]


def compiled_in_fork(rules: tuple[Rule, ...]) -> _Compiled:
    """The databases compiled by a forked copy of this process, loaded here.

    Compiling pulls Hyperscan's compiler into memory, about 5 MB of code and heap that stay
    resident in a long-lived process although it never compiles again; loading the
    serialized databases costs under 1 MB. The fork is this process at this moment (a
    single-threaded one: the scanner before it serves), it writes the pickled databases to
    a pipe and exits. If it fails, the databases are compiled here instead.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fork: nothing it does may return into the caller's code
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                out.write(pickle.dumps(_Compiled(rules), protocol=pickle.HIGHEST_PROTOCOL))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _pid, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        log.debug("traffic-guardian: compiling in a fork failed (status %d); compiling here", status)
        return _Compiled(rules)
    return pickle.loads(data)  # noqa: S301 - from our own fork, over an anonymous pipe


def _literal(keyword: str) -> str:
    return "".join(chr(byte) if chr(byte).isalnum() and byte < 128 else f"\\x{byte:02x}"
                   for byte in keyword.encode())


def _base64_run() -> str:
    """BASE64_MIN_RUN characters of decode's base64 alphabet in a row, for bytes mode."""
    return f"[{_literal(BASE64_ALPHABET.decode())}]{{{BASE64_MIN_RUN}}}"


def _gate(rule: Rule) -> tuple[str, int] | None:
    """(expression, flags) of a rule's gate, or None when it has none (it then always runs)."""
    if rule.flags & re.VERBOSE:
        return None
    ignorecase = bool(rule.flags & re.IGNORECASE) and rule.lowercase_compiled is None
    try:
        expression, dotall = gate_pattern(rule.regex, ignorecase)
    except Untranslatable:
        return None
    flags = (hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SINGLEMATCH
             | hyperscan.HS_FLAG_PREFILTER)
    if dotall or rule.flags & re.DOTALL:
        flags |= hyperscan.HS_FLAG_DOTALL
    return expression, flags


def _compile(patterns: list[tuple[str, int, int]]) -> tuple[object, frozenset[int]]:
    """(database, ids in it). A gate Hyperscan rejects (too large, matches empty) is left out:
    its rule then runs without a gate. Keywords are plain literals and always compile."""
    try:
        return _database(patterns), frozenset(number for _e, number, _f in patterns)
    except hyperscan.error:
        pass
    kept = []
    for pattern in patterns:
        try:
            _database([pattern])
        except hyperscan.error as exc:
            log.debug("traffic-guardian: no Hyperscan gate for pattern %d: %s", pattern[1], exc)
            continue
        kept.append(pattern)
    return _database(kept), frozenset(number for _e, number, _f in kept)


def _database(patterns: list[tuple[str, int, int]]):
    if not patterns:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[expression.encode() for expression, _n, _f in patterns],
                     ids=[number for _e, number, _f in patterns], flags=[flags for _e, _n, flags in patterns])
    return database
