"""The detection engine: Exchange in, redacted Findings out. Every front end calls this.

One request's path: split the exchange into parts (URL, each header, body, its
Content-Encoding undone if the front end left it encoded), bound each part by
max_scan_bytes, build its decoded views (decode.py), run each rule the prefilter
says can match (prefilter.py: its keywords occur and its Hyperscan gate matched), drop
expected credential uses (providers.py), and build Findings whose snippets went through
redact.py. Rules are data (rules/); this file has the only matching loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from traffic_guardian.detect import known_secrets as known_secret_rule
from traffic_guardian.detect.assignments import assignment_spans
from traffic_guardian.detect.content_encoding import decode_body
from traffic_guardian.detect.decode import View, views
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, UNKNOWN_SIZE, Exchange
from traffic_guardian.detect.finding import Finding
from traffic_guardian.detect.known_secrets import KnownSecretsSource, is_bound_use
from traffic_guardian.detect.prefilter import Prefilter
from traffic_guardian.detect.providers import UseContext, is_expected_use, is_llm_host
from traffic_guardian.detect.redact import MAX_ENCODED_HITS, Redactor, encoded_spans
from traffic_guardian.detect.rules import RULESET, SECRET_RULES, Rule
from traffic_guardian.detect.unescape import may_hold_escapes, readings

# Caps so one hostile body cannot turn into a flood of findings (the writer also dedups).
MAX_FINDINGS_PER_RULE_PER_PART = 5
MAX_FINDINGS_PER_EXCHANGE = 50
# Bounds on searching escaped spellings: the longest secrets first; a value shorter than
# MIN_SPELLED_LENGTH (a 4-character password) is masked where it is assigned, not searched for.
MAX_SPELLED_SECRETS = 64
MIN_SPELLED_LENGTH = 8


@dataclass(frozen=True)
class Part:
    location: str  # request.url | request.header:<name> | request.body | response.body | websocket.message ...
    kind: str  # url | header | body
    text: str
    header_name: str = ""


class Engine:
    def __init__(
        self,
        rules: tuple[Rule, ...] = RULESET,
        *,
        max_scan_bytes: int = 262144,
        context_chars: int = 40,
        redactor: Redactor | None = None,
        provider_hosts: dict[str, list[str]] | None = None,
        known_secrets: KnownSecretsSource | None = None,
        use_hyperscan: bool = True,
    ):
        self.rules = rules
        self.by_direction = {
            OUTBOUND: tuple(r for r in rules if r.direction == OUTBOUND),
            INBOUND: tuple(r for r in rules if r.direction == INBOUND),
        }
        self.secret_rules = tuple(r for r in rules if r.secret) or SECRET_RULES
        # Which rules can match a view, in one Hyperscan pass (prefilter.py); else the keyword loop.
        # use_hyperscan=False: redacting short log lines does not earn a 0.6 s compile and ~10 MB.
        prefiltered = rules if any(rule.secret for rule in rules) else rules + SECRET_RULES
        self.prefilter = Prefilter(prefiltered, use_hyperscan=use_hyperscan)
        self.max_scan_bytes = max_scan_bytes
        self.context_chars = context_chars
        self.redactor = redactor or Redactor()
        self.provider_hosts = provider_hosts or {}
        # provider -> number of times its key was seen in its normal auth use (for status)
        self.expected_uses: Counter[str] = Counter()
        # The operator's PicoClaw secrets (known_secrets.py); a watch's .current() reloads on file change.
        self.known_secrets = known_secrets

    @classmethod
    def from_config(cls, config, redactor: Redactor | None = None, use_hyperscan: bool = True,
                    known_secrets: KnownSecretsSource | None = None) -> Engine:
        """The engine a guardian config asks for; front ends use picoclaw/secrets_watch.engine_from_config,
        which also watches the PicoClaw secrets."""
        return cls(
            max_scan_bytes=config.max_scan_bytes,
            context_chars=config.snippet_context_chars,
            redactor=redactor or Redactor(),
            provider_hosts=config.provider_hosts,
            known_secrets=known_secrets,
            use_hyperscan=use_hyperscan,
        )

    def twin(self, use_hyperscan: bool = True) -> Engine:
        """Another engine over the same rules, redactor and known secrets: the monitor redacts
        its log lines with one that has no Hyperscan (it scans in its scanner process)."""
        return Engine(self.rules, max_scan_bytes=self.max_scan_bytes, context_chars=self.context_chars,
                      redactor=self.redactor, provider_hosts=self.provider_hosts, known_secrets=self.known_secrets,
                      use_hyperscan=use_hyperscan)

    # -- parts -------------------------------------------------------------------------

    def parts(self, exchange: Exchange, cuts: list | None = None) -> list[Part]:
        """The parts of exchange, each cut to max_scan_bytes; cuts gets (location, kind, total
        or None, scanned) for every part that was longer, so nothing is cut silently."""
        limit = self.max_scan_bytes
        cuts = [] if cuts is None else cuts
        parts: list[Part] = []
        if exchange.direction == OUTBOUND and exchange.url:
            parts.append(Part("request.url", "url", exchange.url[:limit]))
            if len(exchange.url) > limit:
                cuts.append(("request.url", "url", len(exchange.url), limit))
        for name, value in exchange.headers:
            lowered = name.lower()
            parts.append(Part(f"{exchange.side}.header:{lowered}", "header", value[:limit], lowered))
            if len(value) > limit:
                cuts.append((f"{exchange.side}.header:{lowered}", "header", len(value), limit))
        body = exchange.body
        total = exchange.body_total if exchange.body_total is not None else len(body or b"")
        if exchange.content_encoding and isinstance(body, bytes):
            compressed = len(body)
            body = decode_body(body[:limit], exchange.content_encoding, limit)
            if compressed > limit or len(body) >= limit or total == UNKNOWN_SIZE:
                total = UNKNOWN_SIZE  # inflated beyond the bound, or from a cut stream: size unknown
            else:
                total = len(body)  # the whole message, inflated
        if body:
            text = body[:limit].decode("utf-8", "replace") if isinstance(body, bytes) else body[:limit]
            parts.append(Part(exchange.location_of_body(), "body", text))
            scanned = min(len(body), limit)
            if total == UNKNOWN_SIZE or total > scanned:
                cuts.append((exchange.location_of_body(), "body", None if total == UNKNOWN_SIZE else total, scanned))
        return parts

    # -- scanning ----------------------------------------------------------------------

    def scan(self, exchange: Exchange) -> list[Finding]:
        rules = self.by_direction.get(exchange.direction, ())
        findings: list[Finding] = []
        seen: set[tuple] = set()
        form = "x-www-form-urlencoded" in exchange.content_type.lower()
        cuts: list = []
        parts = self.parts(exchange, cuts)
        # At most a rule's share: a request of a hundred oversized headers must not crowd out the rest.
        findings += [self._incomplete(exchange, *cut) for cut in cuts[:MAX_FINDINGS_PER_RULE_PER_PART]]
        for part in parts:
            part_views = views(part.text, self.max_scan_bytes, form_encoded=form or part.kind == "url",
                               may_hold_base64=self.prefilter.may_hold_base64)
            for view in part_views:
                # Redacting a raw-view snippet needs the part's decoded views: already built.
                decoded = part_views[1:] if view is part_views[0] and not form and part.kind != "url" else None
                self._scan_view(exchange, part, view, rules, findings, seen, decoded)
                if len(findings) >= MAX_FINDINGS_PER_EXCHANGE:
                    return findings
        return findings

    def _scan_view(self, exchange: Exchange, part: Part, view: View, rules, findings: list[Finding],
                   seen: set[tuple], decoded: list[View] | None = None) -> None:
        text = view.text
        claimed = self._scan_known_secrets(exchange, part, view, findings, seen, decoded)
        # An ASCII view is lowercased only if a case-insensitive rule runs on it: the
        # prefilter does without (prefilter.py).
        lower = None if text.isascii() else text.lower()
        spans: list | None = None
        runnable, lower = self._runnable(rules, text, lower)
        for rule in runnable:
            emitted = 0
            if lower is None and rule.lowercase_compiled is not None:
                lower = text.lower()
            subject, pattern = rule.subject(text, lower)
            for match in pattern.finditer(subject):
                if rule.validate is not None and not rule.validate(match, subject):
                    continue
                identity = match.group(0)
                if rule.secret:
                    start, end = rule.secret_span(match)
                    if any(s < end and start < e for s, e in claimed):
                        continue  # a known secret: its PicoClaw binding decides (known_secret)
                    identity = self.redactor.fingerprint(text[start:end])
                    if self._expected(rule, text[start:end], exchange, part):
                        use_key = ("use", rule.provider, part.location, identity)
                        if use_key not in seen:
                            seen.add(use_key)
                            self.expected_uses[rule.provider] += 1
                        continue
                key = (rule.pattern, rule.variant, part.location, identity)
                if key in seen:
                    continue
                seen.add(key)
                if spans is None:
                    spans = self.secret_spans(text, decoded_views=decoded)
                findings.append(self._finding(exchange, part, view, rule, match, spans))
                emitted += 1
                if emitted >= MAX_FINDINGS_PER_RULE_PER_PART or len(findings) >= MAX_FINDINGS_PER_EXCHANGE:
                    break

    def _incomplete(self, exchange: Exchange, location: str, kind: str, total: int | None, scanned: int) -> Finding:
        """scan_incomplete: a part longer than max_scan_bytes; what lies beyond was not inspected."""
        of = f"{total} bytes" if total is not None else "an unknown size"
        return Finding(
            direction=exchange.direction, protocol=exchange.protocol, threat_type="POLICY", pattern="scan_incomplete",
            variant=kind, severity="low", source=exchange.source, dest=exchange.dest, location=location,
            snippet=f"the first {scanned} bytes of {of} were scanned; the rest was not inspected",
            description="A part longer than max_scan_bytes: what lies beyond the bound was not inspected",
            flow_id=exchange.flow_id, bytes_total=total, bytes_scanned=scanned)

    def _runnable(self, rules: tuple[Rule, ...], text: str, lower: str | None) -> tuple[list[Rule], str | None]:
        """The rules worth running on this view (the prefilter's answer, else each whose
        keyword occurs), and text.lower() if it was given or deciding needed it."""
        runnable = self.prefilter.runnable(rules, text, lower)
        if runnable is not None:
            return runnable, lower
        lower = text.lower() if lower is None else lower
        return [rule for rule in rules
                if not rule.keywords or any(keyword in lower for keyword in rule.keywords)], lower

    def _expected(self, rule: Rule, secret: str, exchange: Exchange, part: Part) -> bool:
        if rule.provider is None or exchange.direction != OUTBOUND:
            return False
        ctx = UseContext(host=exchange.host, part=part.kind, header_name=part.header_name,
                         url=exchange.url, body_text=part.text if part.kind == "body" else "")
        return is_expected_use(rule.provider, secret, ctx, self.provider_hosts)

    def secret_spans(self, text: str, decoded: bool = True,
                     decoded_views: list[View] | None = None) -> list[tuple[int, int, str, str]]:
        """Every secret in text, whatever the direction: what redaction must mask.

        Key rules and known secrets; values assigned to credential-named keys are masked by
        the snippet itself, around its window (redact.py). decoded: also secrets visible only
        in a decoded view of text (base64, URL, JSON), masked where their encoded form sits
        in text, and every secret, seen or not, wherever text spells it with escapes
        (unescape.py: `\\u0041`, `%41`, `&#65;`, mixed and nested). decoded_views: those
        views when the caller has built them already.
        """
        spans: list[tuple[int, int, str, str]] = []
        for rule in self._runnable(self.secret_rules, text, None)[0]:
            for match in rule.compiled.finditer(text):
                if rule.validate is not None and not rule.validate(match, text):
                    continue
                start, end = rule.secret_span(match)
                spans.append((start, end, rule.pattern, rule.public_prefix))
        if self.known_secrets is not None:
            spans += self.known_secrets.current().spans(text)
        if decoded:
            hidden = {}
            if decoded_views is None:
                decoded_views = views(text, self.max_scan_bytes, may_hold_base64=self.prefilter.may_hold_base64)[1:]
            for view in decoded_views:
                for start, end, label, prefix in self.secret_spans(view.text, decoded=False):
                    hidden[view.text[start:end]] = (label, prefix)
            spans += encoded_spans(text, hidden)
            if may_hold_escapes(text):
                spans += self._spelled_spans(text, spans, hidden)
        return spans

    def _spelled_spans(self, text: str, spans, hidden: dict) -> list[tuple[int, int, str, str]]:
        """Raw spans where text spells a secret with escapes: the secrets found in text, in its
        decoded views, or by the key rules on a reading of text with its escapes undone."""
        found_readings = readings(text)
        if not found_readings:
            return []
        secrets = dict(hidden)
        secrets |= {text[start:end]: (label, prefix) for start, end, label, prefix in spans}
        for reading in found_readings:
            for start, end, label, prefix in self.secret_spans(reading.text, decoded=False):
                secrets[reading.text[start:end]] = (label, prefix)
        searched = [(value, label) for value, (label, _prefix) in secrets.items() if len(value) >= MIN_SPELLED_LENGTH]
        searched = sorted(searched, key=lambda item: -len(item[0]))[:MAX_SPELLED_SECRETS]
        found = []
        for reading in found_readings:
            for value, label in searched:
                start, hits = reading.text.find(value), 0
                while start != -1 and hits < MAX_ENCODED_HITS:
                    raw_start, raw_end = reading.raw_span(start, start + len(value))
                    found.append((raw_start, raw_end, label, ""))
                    start, hits = reading.text.find(value, start + 1), hits + 1
        return found

    def _scan_known_secrets(self, exchange: Exchange, part: Part, view: View, findings: list[Finding],
                            seen: set[tuple], decoded: list[View] | None = None) -> list[tuple[int, int]]:
        """known_secret findings for this view; returns the spans the known secrets claim.

        Bound use (its PicoClaw host and auth location; for a secret PicoClaw binds to
        nothing, its format's provider binding) is counted as expected use, not reported.
        """
        known = self.known_secrets.current() if self.known_secrets is not None else None
        occurrences = known.find(view.text) if known else []
        if not occurrences or exchange.direction != OUTBOUND:
            return [(start, end) for start, end, _secret in occurrences]
        ctx = UseContext(host=exchange.host, part=part.kind, header_name=part.header_name,
                         url=exchange.url, body_text=part.text if part.kind == "body" else "")
        spans = None
        for start, end, secret in occurrences:
            bound = is_bound_use(secret, ctx) if secret.has_own_binding else \
                self._format_binds(secret.value, exchange, part)
            if bound:
                if ("use", secret.fingerprint, part.location) not in seen:
                    seen.add(("use", secret.fingerprint, part.location))
                    self.expected_uses[f"known:{secret.owner}"] += 1
                continue
            key = (known_secret_rule.PATTERN, secret.kind, part.location, secret.fingerprint)
            if key in seen or len(findings) >= MAX_FINDINGS_PER_EXCHANGE:
                continue
            seen.add(key)
            spans = self.secret_spans(view.text, decoded_views=decoded) if spans is None else spans
            findings.append(Finding(
                direction=exchange.direction, protocol=exchange.protocol, threat_type="EXFIL",
                pattern=known_secret_rule.PATTERN, variant=secret.kind, severity=known_secret_rule.SEVERITY,
                source=exchange.source, dest=exchange.dest, location=part.location,
                snippet=self.redactor.snippet(view.text, start, end, self.context_chars, spans),
                description=known_secret_rule.DESCRIPTION, flow_id=exchange.flow_id, encoding=view.encoding,
                secret_owner=secret.owner,
            ))
        return [(start, end) for start, end, _secret in occurrences]

    def _format_binds(self, value: str, exchange: Exchange, part: Part) -> bool:
        """A known secret PicoClaw binds nowhere, in its format's provider binding (a ghp_ token to GitHub)."""
        for rule in self.secret_rules:
            if rule.provider in (None, "jwt"):
                continue
            match = rule.compiled.search(value)
            if match and rule.secret_span(match) == (0, len(value)) and self._expected(rule, value, exchange, part):
                return True
        return False

    def _finding(self, exchange: Exchange, part: Part, view: View, rule: Rule, match, spans) -> Finding:
        snippet = self.redactor.snippet(view.text, match.start(), match.end(), self.context_chars, spans)
        severity = rule.severity
        if rule.mention and exchange.direction == OUTBOUND and part.kind == "body" \
                and is_llm_host(exchange.host, self.provider_hosts):
            severity = "info"  # "what is in ~/.ssh/id_rsa?" to the operator's own model: talk, not a leak
        return Finding(
            direction=exchange.direction,
            protocol=exchange.protocol,
            threat_type=rule.threat_type,
            pattern=rule.pattern,
            variant=rule.variant,
            severity=severity,
            source=exchange.source,
            dest=exchange.dest,
            location=part.location,
            snippet=snippet,
            description=rule.description,
            flow_id=exchange.flow_id,
            encoding=view.encoding,
            provider=rule.provider if rule.secret and rule.provider not in (None, "jwt") else None,
        )

    # -- free text ---------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """Mask every secret in arbitrary text (error messages, log lines)."""
        spans = self.secret_spans(text)
        if not spans and not assignment_spans(text):
            return text
        return self.redactor.snippet(text, 0, len(text), 0, spans).strip("…")

