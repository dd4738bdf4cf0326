"""Inbound rules for attacks on the model itself: prompt injection, Unicode smuggling, and
markdown image/link exfiltration.

These scan what the agent reads: fetched pages, tool results, LLM output (streamed
answers are reassembled first, see llm_streams.py). Precision decisions, documented in
SPEC.md section 13:

- prompt_injection fires on imperatives addressed to the model ("Ignore all previous
  instructions", "reveal your system prompt", "send the conversation to https://...").
  A verb right after a modal, a negation, a relative pronoun or an infinitive 'to'
  ("attackers try to ignore ...", "never share your API key") is a description and stays
  silent. An article that quotes a payload verbatim fires: the quoted text reaches the
  model just the same, and a monitor cannot tell a quotation from an attack.
- unicode_smuggling matches the markers the `unicode` view (smuggling.py) puts where
  invisible characters were, so the finding shows the decoded hidden text.
- markdown_exfil_link needs data in the URL, not just a query: prose or base64/hex text
  in an image URL's query, encoded text in a link's query, or a credential in either.
  Signatures, ids and cache busters are random bytes, not text, and stay silent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ..decode import base64_texts
from ..smuggling import BIDI_MARK, MARK_END, TAG_MARK, ZERO_WIDTH_MARK
from . import INJECTION, Rule
from .prompt_zh import PROMPT_INJECTION_ZH

IN = "inbound"
_S = r"[ \t\r\n]{1,8}+"  # the gap between two words, possibly across a line break


def _prompt(pattern, variant, severity, regex, keywords, description, validate=None, flags=0):
    return Rule(
        pattern=pattern, variant=variant, threat_type=INJECTION, direction=IN, severity=severity,
        description=description, regex=regex, keywords=keywords, validate=validate, flags=flags,
    )


# -- prompt_injection ------------------------------------------------------------------

# A word right before the verb that makes it a description, not an order to the model.
_DESCRIPTIVE = frozenset({
    "to", "that", "which", "who", "can", "could", "may", "might", "would", "will", "not", "never", "cannot",
    "can't", "don't", "doesn't", "didn't", "won't", "wouldn't", "shouldn't", "mustn't", "isn't", "aren't",
    "and/or",
})
_WORD_BEFORE = re.compile(r"([A-Za-z'/]{1,20})[ \t]{1,3}$")


def addressed_to_model(match: re.Match, text: str) -> bool:
    """Keep the match unless the word right before it makes it a description (see module doc)."""
    before = _WORD_BEFORE.search(text, max(0, match.start() - 24), match.start())
    return before is None or before.group(1).lower() not in _DESCRIPTIVE


_DETERMINERS = (r"(?:(?:all|any|every|each|the|your|my|of|these|those|this|that|and|now|just|simply)"
                + _S + r"){0,4}+")
_EARLIER = r"(?:previous|prior|preceding|above|earlier|initial|original|system|developer|safety)"
_ORDERS = (r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines|guidance|commands|context|"
           r"constraints|orders|programming|guardrails|restrictions|policies)\b")

IGNORE_INSTRUCTIONS = (
    r"\b(?:ignore|disregard|forget|override|bypass)" + _S + r"(?:"
    + _DETERMINERS + _EARLIER + r"(?:" + _S + _EARLIER + r")?" + _S + _ORDERS
    + r"|(?:your|all|any|every)" + _S + r"(?:(?:of|the|your|current|own)" + _S + r"){0,3}+" + _ORDERS
    + r"|" + _DETERMINERS + _ORDERS + _S
    + r"(?:above|before|so[ \t]far|you(?:'ve|[ \t]have)?[ \t]been[ \t]given)"
    + r"|(?:everything|all)" + _S + r"(?:above|before|(?:you[ \t]were|you've[ \t]been|you[ \t]have[ \t]been)"
      r"[ \t]told)\b)"
)

_REVEAL = (r"(?:reveal|print|output|repeat|show|display|disclose|leak|dump|share|recite|expose|echo|"
           r"spell[ \t]out|write[ \t]out|tell[ \t]me|give[ \t]me|show[ \t]me|send[ \t]me)")
_HIDDEN_KIND = r"(?:system|developer|hidden|initial|original|secret)"
REVEAL_SYSTEM_PROMPT = (
    r"\bwhat(?:'s|" + _S + r"(?:is|are|were))" + _S + r"your" + _S + r"(?:" + _HIDDEN_KIND + _S + r")?"
    + r"(?:prompt|instructions)\b|"
    + r"\b" + _REVEAL + _S
    + r"(?:(?:me|us|all|the|your|of|entire|full|whole|complete|exact|verbatim)" + _S + r"){0,4}+"
    + r"(?:" + _HIDDEN_KIND + r"(?:" + _S + _HIDDEN_KIND + r")?" + _S + r"(?:prompt|message|instructions)s?\b"
    + r"|(?:text|words|lines|content|instructions)" + _S + r"(?:above|before[ \t]this))"
)

_SECRETS = (r"(?:api[ _-]?keys?|secret[ _-]?keys?|secrets|credentials|passwords?|access[ _-]?tokens?|"
            r"auth(?:entication)?[ _-]?tokens?|private[ _-]?keys?|ssh[ _-]?keys?|environment[ _-]variables|"
            r"env[ _-]vars?|\.env(?:[ _-]file)?)\b")
REVEAL_SECRETS = (
    r"\b(?:(?:reveal|print|output|display|disclose|leak|dump|expose|echo|share|list)"
    + r"|(?:tell|give|send|show)" + _S + r"(?:me|us))" + _S
    + r"(?:(?:all|any|every|of|the|contents?|values?|full|entire)" + _S + r"){0,4}+"
    + r"(?:your" + _S + r"(?:(?:stored|saved|current|secret|own)" + _S + r")?" + _SECRETS
    + r"|(?:tokens?|keys|" + _SECRETS + r")" + _S
    + r"(?:you" + _S + r"(?:have|hold|know|use|were" + _S + r"given|can" + _S + r"(?:see|read|access))"
    + r"|(?:stored|saved|kept)" + _S + r"(?:in|by)" + _S + r"you))"
)

_SENSITIVE_DATA = (
    r"(?:(?:previous|prior|earlier|entire|whole|full)[ \t]{1,3})?"
    r"(?:conversation(?:[ \t]history)?|chat[ \t]history|message[ \t]history|(?:previous|prior|earlier|above)"
    r"[ \t]messages|system[ \t]prompt|secrets|credentials|api[ _-]?keys?|access[ _-]?tokens?|passwords?|"
    r"private[ _-]?keys?|ssh[ _-]?keys?|environment[ \t]variables|env[ \t]vars|memory|memories|"
    r"(?:personal|user'?s?|private)[ \t](?:data|information|details|messages))\b"
)
_DESTINATION = (
    r"(?:https?://|(?:the|this|that|a|my)" + _S + r"(?:following" + _S + r")?"
    r"(?:url|link|endpoint|webhook|server|address|image(?:[ \t]url)?)\b"
    r"|[\w.+-]{1,64}@[\w-]{1,63}\.[a-z]{2,}|(?:a[ \t])?query[ \t](?:parameter|string))"
)
SEND_DATA_TO_URL = (
    r"\b(?:send|post|upload|forward|transmit|exfiltrate|submit|leak|email|append|encode|include|add|put)" + _S
    + r"(?:[^\s.,;:!?]{1,40}+" + _S + r"){0,5}?"
    + _SENSITIVE_DATA + r"[^\n]{0,80}?\b(?:to|into|in|at|via|as)" + _S + _DESTINATION
)

SEND_ANYTHING_TO_URL = (
    r"\b(?:send|post|upload|forward|transmit|exfiltrate|submit|email)" + _S
    + r"(?:[^\s,;:!?]{0,59}[^\s.,;:!?]" + _S + r"){1,6}?(?:to|into|at|via)" + _S + r"https?://"
)
_PERSONAS = (r"(?:dan|stan|dude|aim|betterdan|evil[ \t]confidant|jailbroken|unrestricted|uncensored|unfiltered|"
             r"evil|unhinged|amoral|in[ \t](?:developer|god|jailbreak|dan)[ \t]mode|(?:developer|god|jailbreak)"
             r"[ \t]mode|no[ \t]longer[ \t](?:an?[ \t])?(?:ai|assistant|bound|restricted|an[ \t]ai))\b")
ROLE_OVERRIDE = (
    r"\b(?:you[ \t]are|you're|you[ \t]will[ \t]be|you'll[ \t]be)[ \t]+now" + _S
    + r"(?:(?:a|an|the|called|named)" + _S + r"){0,2}+" + _PERSONAS
    + r"|\bfrom[ \t]+now[ \t]+on,?[ \t]+you[ \t]+(?:are|will|must|shall)" + _S
    + r"(?:(?:be|act|as|a|an|called|named|respond|behave)" + _S + r"){0,4}+"
    + r"(?:" + _PERSONAS + r"|[a-z][\w-]{1,30}(?:bot|gpt|ai)\b)"
    + r"|\b(?:act|behave|respond|answer|roleplay)[ \t]+as" + _S + r"(?:(?:a|an|the)" + _S + r")?" + _PERSONAS
    + r"|\bpretend" + _S + r"(?:to" + _S + r"be|you" + _S + r"are|that" + _S + r"you" + _S + r"are)" + _S
    + r"(?:(?:a|an|the)" + _S + r")?" + _PERSONAS
    + r"|\bdo[ \t]+anything[ \t]+now\b"
    + r"|\b(?:enable|activate|enter)" + _S + r"(?:developer|god|jailbreak|dan)[ \t]+mode\b"
)

_SENSITIVE_OBJECT = re.compile(_SENSITIVE_DATA, re.IGNORECASE)


def generic_object(match: re.Match, text: str) -> bool:
    """send_to_url: addressed to the model, and not about sensitive data (send_data_to_url says that)."""
    return addressed_to_model(match, text) and _SENSITIVE_OBJECT.search(match.group(0)) is None


PROMPT_INJECTION = (
    _prompt("prompt_injection", "ignore_instructions", "medium", IGNORE_INSTRUCTIONS,
            ("ignore", "disregard", "forget", "override", "bypass"),
            "instruction to ignore the model's prior instructions",
            validate=addressed_to_model, flags=re.IGNORECASE),
    _prompt("prompt_injection", "reveal_system_prompt", "medium", REVEAL_SYSTEM_PROMPT,
            ("prompt", "message", "instruction", "above", "before this"),
            "instruction to reveal the system prompt", validate=addressed_to_model, flags=re.IGNORECASE),
    _prompt("prompt_injection", "reveal_secrets", "medium", REVEAL_SECRETS, ("you",),
            "instruction to reveal the agent's secrets or credentials", validate=addressed_to_model,
            flags=re.IGNORECASE),
    _prompt("prompt_injection", "role_override", "medium", ROLE_OVERRIDE,
            ("now", "act", "behave", "respond", "answer", "roleplay", "pretend", "anything", "mode"),
            "instruction that gives the model a new, unrestricted role (you are now DAN, developer mode)",
            validate=addressed_to_model, flags=re.IGNORECASE),
    _prompt("prompt_injection", "send_to_url", "low", SEND_ANYTHING_TO_URL,
            ("http",), "instruction to send something to a URL (any object; sensitive data is send_data_to_url)",
            validate=generic_object, flags=re.IGNORECASE),
    _prompt("prompt_injection", "send_data_to_url", "medium", SEND_DATA_TO_URL,
            ("http", "url", "link", "endpoint", "webhook", "server", "address", "image", "@", "query"),
            "instruction to send conversation data or secrets to a URL or address",
            validate=addressed_to_model, flags=re.IGNORECASE),
)

# -- unicode_smuggling -----------------------------------------------------------------

_FLAG_SUBDIVISION = re.compile(r"[a-z0-9]{1,7}")  # 🏴 + tags 'gbeng' + cancel: the England flag


def not_emoji_flag(match: re.Match, text: str) -> bool:
    """Tag characters after U+1F3F4 spelling a region code are an emoji flag, not a message."""
    before = text[match.start() - 1 : match.start()]
    return not (before == "\U0001f3f4" and _FLAG_SUBDIVISION.fullmatch(match.group("hidden")))


_RTL_LETTER = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def bidi_out_of_place(match: re.Match, text: str) -> bool:
    """Overrides (LRO, RLO) always; embeddings and isolates only on a line with no
    right-to-left letters, where they have no job but reordering what a reader sees."""
    if match.group("control") in ("LRO", "RLO"):
        return True
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = text.find("\n", match.end())
    return _RTL_LETTER.search(text, line_start, line_end if line_end >= 0 else len(text)) is None


UNICODE_SMUGGLING = (
    _prompt("unicode_smuggling", "tag_characters", "high",
            re.escape(TAG_MARK) + r"(?P<hidden>[^⟦" + MARK_END + r"\n]{1,4000}+)\n" + MARK_END, (TAG_MARK,),
            "text hidden in invisible Unicode tag characters (U+E0000..U+E007F)", validate=not_emoji_flag),
    _prompt("unicode_smuggling", "zero_width_run", "medium",
            re.escape(ZERO_WIDTH_MARK) + r"[^⟦" + MARK_END + r"\n]{1,4000}+\n" + MARK_END, (ZERO_WIDTH_MARK,),
            "long run of zero-width characters (hidden bits or text)"),
    _prompt("unicode_smuggling", "bidi_override", "medium",
            re.escape(BIDI_MARK) + r"(?P<control>LRE|RLE|LRO|RLO|LRI|RLI|FSI)" + MARK_END, (BIDI_MARK,),
            "bidirectional override or isolate that reorders displayed text", validate=bidi_out_of_place),
)

# -- markdown_exfil_link ---------------------------------------------------------------

_URL = r"(?P<url>https?://[^\s\"'<>()\[\]]{1,4096}+)"
_MD_IMAGE = r"!\[[^\[\]\n]{0,500}+\]\([ \t]{0,4}<?"
_MD_LINK = r"(?<!!)\[[^\[\]\n]{0,500}+\]\([ \t]{0,4}<?"
_HTML_ATTR = r"[^<>]{{0,500}}?\b{attr}[ \t]{{0,4}}=[ \t]{{0,4}}[\"']?"
_HTML_IMAGE = r"(?i:<img\b" + _HTML_ATTR.format(attr="src") + r")"
_HTML_LINK = r"(?i:<a\b" + _HTML_ATTR.format(attr="href") + r")"

_NATURAL_WORD = re.compile(r"[\"'(]?(?:[A-Za-z][a-z]{0,19}|[0-9]{1,6})[.,;:!?'\")]{0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){16,}")
MIN_DATA_CHARS = 16


def _query_values(url: str) -> list[str]:
    query = urlsplit(url).query
    if not query:
        return []
    # data: URIs (badge logos) are inline images, not data sent anywhere
    pairs = parse_qsl(query, keep_blank_values=True)
    values = [value for _key, value in pairs if not value.startswith("data:")]
    if "=" not in query:  # https://host/p?<data>
        values.append(unquote_plus(query))
    return [value for value in values if len(value) >= MIN_DATA_CHARS]


def _is_prose(value: str) -> bool:
    """Four or more natural words (not the pieces of base64 whose '+' became spaces)."""
    tokens = value.split()
    natural = sum(1 for token in tokens if _NATURAL_WORD.fullmatch(token))
    return natural >= 4 and natural >= 0.7 * len(tokens)


def _is_encoded_text(value: str) -> bool:
    if len(base64_texts(value, 4096)) >= 12:
        return True
    for run in _HEX_RUN.findall(value):
        try:
            decoded = bytes.fromhex(run).decode("utf-8")
        except UnicodeDecodeError:  # signatures and digests are random bytes, not text
            continue
        if sum(1 for ch in decoded if ch.isprintable()) >= 0.9 * len(decoded):
            return True
    return False


def url_has_secret(url: str) -> bool:
    """A credential of any known format in the URL, raw or percent-decoded (JWTs excepted:
    sites put their own session tokens in links)."""
    from . import SECRET_RULES  # the full ruleset exists by the time a validator runs

    for candidate in {url, unquote_plus(url)}:
        lower = candidate.lower()
        for rule in SECRET_RULES:
            if rule.pattern == "jwt" or (rule.keywords and not any(k in lower for k in rule.keywords)):
                continue
            for found in rule.compiled.finditer(candidate):
                if rule.validate is None or rule.validate(found, candidate):
                    return True
    return False


def image_carries_data(match: re.Match, _text: str) -> bool:
    url = match.group("url")
    values = _query_values(url)
    return any(_is_prose(v) or _is_encoded_text(v) for v in values) and not url_has_secret(url)


def link_carries_data(match: re.Match, _text: str) -> bool:
    url = match.group("url")
    return any(_is_encoded_text(v) for v in _query_values(url)) and not url_has_secret(url)


def link_carries_secret(match: re.Match, _text: str) -> bool:
    return url_has_secret(match.group("url"))


MARKDOWN_EXFIL_LINK = (
    _prompt("markdown_exfil_link", "image_data", "medium",
            r"(?:" + _MD_IMAGE + "|" + _HTML_IMAGE + r")" + _URL, ("![", "<img"),
            "image URL whose query carries text or encoded data (loads, and leaks, on render)",
            validate=image_carries_data),
    _prompt("markdown_exfil_link", "link_data", "medium",
            r"(?:" + _MD_LINK + "|" + _HTML_LINK + r")" + _URL, ("](", "href"),
            "link URL whose query carries base64 or hex encoded text", validate=link_carries_data),
    _prompt("markdown_exfil_link", "secret_in_url", "high",
            r"(?:" + _MD_IMAGE + "|" + _MD_LINK + "|" + _HTML_IMAGE + "|" + _HTML_LINK + r")" + _URL,
            ("](", "<img", "href"), "image or link URL carrying a credential", validate=link_carries_secret),
)

PROMPT_RULES = (*PROMPT_INJECTION, *PROMPT_INJECTION_ZH, *UNICODE_SMUGGLING, *MARKDOWN_EXFIL_LINK)
