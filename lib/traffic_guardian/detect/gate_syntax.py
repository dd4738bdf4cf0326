"""Translate a rule's Python regex into a Hyperscan pattern that matches at least as much.

The prefilter (prefilter.py) asks Hyperscan, in one pass over a view, which rules could
match; Python's re then confirms only those. That is only sound when the Hyperscan
pattern (the rule's "gate") matches every text the Python regex matches. So this
translation only ever widens:

  - zero-width assertions (lookarounds, \\B, ^, $, \\A, \\Z) are dropped, and so is \\b
    except before a literal ASCII word character (see _word_boundary_holds);
  - possessive quantifiers become greedy ones, atomic groups plain groups;
  - every construct whose meaning depends on Unicode tables (\\w, \\d, \\s and their
    negations) also accepts every non-ASCII code point, because Hyperscan's Unicode
    tables are older than Python's and differ from them;
  - an ASCII letter under (?i) also accepts the four non-ASCII characters Python folds
    onto ASCII letters (CASELESS_FOLDS; only these, so the gate keeps its literal factors
    and stays fast: widening to every non-ASCII code point cost 3 to 4 times the scan);
  - \\s also accepts \\x1c-\\x1f, which Python counts as whitespace and Hyperscan does not;
  - inside a negated class, a shorthand excludes only its ASCII members.

On ASCII text the gate is then as tight as the rule (less the dropped assertions); on
other text it is looser, and re still decides. Anything this translator does not know
(backreferences, conditionals, verbose mode, \\N{...}) raises Untranslatable, and the
rule simply runs without a gate.
"""

from __future__ import annotations

NON_ASCII = r"\x{80}-\x{10ffff}"
# The non-ASCII characters that re.IGNORECASE matches to an ASCII letter, found by trying
# every code point (test_prefilter.py repeats the search on the running Python): the
# dotted and dotless I, the long s and the Kelvin sign.
CASELESS_FOLDS = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a"}
# Repeat counts above this become open-ended (and lower bounds are capped at it): wider, and
# Hyperscan rejects exact counts of wide UTF-8 classes in the thousands as "too large".
MAX_GATE_REPEAT = 8
_ASCII_WHITESPACE = r"\t\n\x0b\x0c\r "
_SHORTHAND_CLASS = {  # outside a class: the widened equivalent
    "d": r"[\d" + NON_ASCII + "]",
    "w": r"[\w" + NON_ASCII + "]",
    "s": r"[\s\x1c-\x1f" + NON_ASCII + "]",
    "D": r"[\D" + NON_ASCII + "]",
    "W": r"[\W" + NON_ASCII + "]",
    "S": r"[\S" + NON_ASCII + "]",
}
_SHORTHAND_IN_CLASS = {"d": r"\d", "w": r"\w", "s": r"\s\x1c-\x1f", "D": r"\D", "W": r"\W", "S": r"\S"}
_SHORTHAND_EXCLUDED = {"d": "0-9", "w": "A-Za-z0-9_", "s": _ASCII_WHITESPACE}  # what a negated class may drop
_DROPPED_ESCAPES = frozenset("bBAZ")
_CONTROL_ESCAPES = {"n": r"\n", "t": r"\t", "r": r"\r", "f": r"\x0c", "v": r"\x0b", "a": r"\x07"}


class Untranslatable(ValueError):
    """The regex uses a construct the gate translation does not cover."""


def gate_pattern(regex: str, ignorecase: bool = False) -> tuple[str, bool]:
    """(Hyperscan pattern, dotall) whose matches include every match of the Python regex.

    ignorecase: the whole regex is case-insensitive (re.IGNORECASE).
    """
    translator = _Translator(regex, ignorecase)
    pattern = translator.sequence(top=True)
    if not pattern.strip("()?:|"):
        raise Untranslatable("nothing left to match once assertions are dropped")
    return pattern, translator.dotall


class _Translator:
    def __init__(self, regex: str, ignorecase: bool):
        self.src = regex
        self.pos = 0
        self.caseless = [ignorecase]  # a stack: (?i:...) groups push
        self.dotall = False

    # -- structure -----------------------------------------------------------------------

    def sequence(self, top: bool = False) -> str:
        out: list[str] = []
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == ")":
                if top:
                    raise Untranslatable("unbalanced ')'")
                return "".join(out)
            if char == "|":
                self.pos += 1
                out.append("|")
            elif char in "*+?{" and (not out or out[-1] != "" or not self._quantifier_follows()):
                out.append(self.quantifier(char))
            elif char in "*+?{":
                self.quantifier(char)  # it quantified a dropped assertion: drop it too
            else:
                out.append(self.group() if char == "(" else self.atom())
        if not top:
            raise Untranslatable("unbalanced '('")
        return "".join(out)

    def _quantifier_follows(self) -> bool:
        """True when the '{' or other character at pos really is a quantifier, not a literal."""
        if self.src[self.pos] != "{":
            return True
        end = self.src.find("}", self.pos)
        body = self.src[self.pos + 1 : end] if end > 0 else ""
        return bool(body.replace(",", "")) and all(part.isdigit() or part == "" for part in body.split(",", 1))

    def group(self) -> str:
        src, start = self.src, self.pos
        self.pos += 1
        if src.startswith("?P<", self.pos):
            self.pos = src.index(">", self.pos) + 1
            return self._close("(?:")
        for lookaround in ("?=", "?!", "?<=", "?<!"):
            if src.startswith(lookaround, self.pos):
                self.pos += len(lookaround)
                self._close("(?:")
                return ""  # an assertion: dropping it widens
        if src.startswith("?:", self.pos) or src.startswith("?>", self.pos):
            self.pos += 2
            return self._close("(?:")
        if src.startswith("?", self.pos):
            end = self.pos + 1
            while end < len(src) and src[end].isalpha():
                end += 1
            flags, closer = src[self.pos + 1 : end], src[end : end + 1]
            if not flags or set(flags) - set("ims") or closer not in (":", ")"):
                raise Untranslatable(f"group syntax at {start}")
            self.pos = end + 1
            if closer == ")":  # global inline flags: Python allows them only at the start
                if start != 0:
                    raise Untranslatable("inline flags not at the start")
                self.caseless[0] = self.caseless[0] or "i" in flags
                self.dotall = self.dotall or "s" in flags
                return ""
            if "s" in flags:
                raise Untranslatable("scoped (?s:...) group")
            self.caseless.append(self.caseless[-1] or "i" in flags)
            try:
                return self._close("(?:")
            finally:
                self.caseless.pop()
        return self._close("(?:")

    def _close(self, opener: str) -> str:
        inner = self.sequence()
        self.pos += 1  # the ')'
        return opener + inner + ")"

    def quantifier(self, char: str) -> str:
        src = self.src
        if char == "{":
            if not self._quantifier_follows():
                return self.atom()  # a literal '{', as in Python
            end = src.index("}", self.pos)
            body = src[self.pos + 1 : end]
            low, _, high = body.partition(",") if "," in body else (body, "", body)
            low_count = min(int(low or 0), MAX_GATE_REPEAT)
            if high and int(high) <= MAX_GATE_REPEAT:
                text = f"{{{low_count},{high}}}"
            else:
                text = f"{{{low_count},}}"  # unbounded: Hyperscan compiles long exact counts into huge automata
            self.pos = end + 1
        else:
            text, self.pos = char, self.pos + 1
        if self.pos < len(src) and src[self.pos] == "+":
            self.pos += 1  # possessive -> greedy: matches at least as much
        elif self.pos < len(src) and src[self.pos] == "?":
            self.pos += 1  # lazy -> greedy: for "is there a match" the same
        return text

    # -- atoms ---------------------------------------------------------------------------

    def atom(self) -> str:
        char = self.src[self.pos]
        if char == "\\":
            return self.escape(in_class=False)
        if char == "[":
            return self.char_class()
        self.pos += 1
        if char in "^$":
            return ""  # an anchor: dropping it widens
        if char == ".":
            return "."
        return self.literal(char)

    def literal(self, char: str) -> str:
        if self.caseless[-1] and char.isalpha():
            if not char.isascii():
                raise Untranslatable("non-ASCII letter under (?i)")
            folds = "".join(_class_literal(fold) for fold in CASELESS_FOLDS.get(char.lower(), ""))
            return f"[{char.lower()}{char.upper()}{folds}]"
        if char.isascii() and not char.isalnum() and char not in " _-":
            return "\\" + char if char.isprintable() else f"\\x{ord(char):02x}"
        return char if char.isascii() else f"\\x{{{ord(char):x}}}"

    def escape(self, in_class: bool) -> str:
        src = self.src
        if self.pos + 1 >= len(src):
            raise Untranslatable("trailing backslash")
        char = src[self.pos + 1]
        self.pos += 2
        if char in _SHORTHAND_CLASS:
            return _SHORTHAND_IN_CLASS[char] if in_class else _SHORTHAND_CLASS[char]
        if char == "b" and not in_class and self._word_boundary_holds():
            return r"\b"
        if char in _DROPPED_ESCAPES:
            if in_class:
                raise Untranslatable(f"\\{char} in a class")
            return ""
        if char in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[char]
        if char in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[char]
            digits = src[self.pos : self.pos + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise Untranslatable(f"bad \\{char} escape")
            self.pos += width
            char = chr(int(digits, 16))
            if in_class and self.caseless[-1] and not char.isascii():
                # A range that reaches past ASCII under (?i) folds onto characters we cannot list.
                raise Untranslatable("non-ASCII member of a class under (?i)")
        elif char.isalnum():
            raise Untranslatable(f"escape \\{char}")  # backreferences, \N{...}, \0 ...
        return _class_literal(char) if in_class else self.literal(char)

    def _word_boundary_holds(self) -> bool:
        """Whether Hyperscan's ASCII \b may stand in for Python's Unicode \b here.

        Next to a character that is a word character for both (an ASCII letter, digit or
        '_'), a boundary means the other side is a non-word character, and every character
        Python counts as non-word is non-word for Hyperscan too: the ASCII test accepts at
        least where Python does. Kept only then (a literal word character must follow, or
        every alternative of the group that follows must start with one), because a leading
        \b is what keeps a short literal like 'nc' from matching inside 'benchmark'.
        """
        if self.caseless[-1]:
            return False  # a caseless letter also stands for non-ASCII folds (the Kelvin sign)
        src, pos = self.src, self.pos
        if pos < len(src) and src[pos] == "(":
            return self._alternatives_start_with_word(pos)
        return _word_char_at(src, pos)

    def _alternatives_start_with_word(self, pos: int) -> bool:
        src = self.src
        if src.startswith("(?:", pos):
            start = pos + 3
        elif src.startswith("(?P<", pos):
            start = src.find(">", pos) + 1
        elif not src.startswith("(?", pos):
            start = pos + 1
        else:
            return False
        depth, index, starts = 0, start, [start]
        while index < len(src):
            char = src[index]
            if char == "\\":
                index += 2
                continue
            if char == "[":
                return False  # a class inside the group: not worth parsing here
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    return all(_word_char_at(src, at) for at in starts)
                depth -= 1
            elif char == "|" and depth == 0:
                starts.append(index + 1)
            index += 1
        return False

    def char_class(self) -> str:
        src = self.src
        self.pos += 1
        negated = src.startswith("^", self.pos)
        if negated:
            self.pos += 1
        members: list[str] = []
        widen = letters = False
        first = True
        while True:
            if self.pos >= len(src):
                raise Untranslatable("unterminated class")
            char = src[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "[" or (char in "&~|-" and src.startswith(char * 2, self.pos)):
                raise Untranslatable("nested set syntax")
            if char == "\\":
                shorthand = src[self.pos + 1 : self.pos + 2]
                if negated and shorthand in _SHORTHAND_CLASS:
                    if shorthand not in _SHORTHAND_EXCLUDED:
                        raise Untranslatable("negated shorthand in a negated class")
                    self.pos += 2
                    members.append(_SHORTHAND_EXCLUDED[shorthand])
                    continue
                widen = widen or shorthand in _SHORTHAND_CLASS
                members.append(self.escape(in_class=True))
                continue
            self.pos += 1
            if char.isalpha():
                if not char.isascii() and self.caseless[-1] and not negated:
                    raise Untranslatable("non-ASCII letter under (?i)")
                letters = True
            members.append("-" if char == "-" else _class_literal(char))
        body = "".join(members)
        if negated:
            return f"[^{body}]"  # excludes no more than Python's class: at least as wide
        if letters and self.caseless[-1]:
            # Any ASCII letter in either case, and every fold onto one: wider, never narrower.
            body = "A-Za-z" + _FOLDS_IN_CLASS + body
        # Extras go first: a '-' that ends Python's class stays a literal, not the start of a range.
        return f"[{NON_ASCII if widen else ''}{body}]"


def _word_char_at(src: str, pos: int) -> bool:
    """A literal ASCII word character at pos that is not optional (no ?, * or {0, after it)."""
    if pos >= len(src) or not (src[pos].isascii() and (src[pos].isalnum() or src[pos] == "_")):
        return False
    after = src[pos + 1 : pos + 4]
    return not (after[:1] in ("?", "*") or after.startswith("{0") or after.startswith("{,"))


def _class_literal(char: str) -> str:
    """One character as a member of a Hyperscan class, escaped so it is never an operator."""
    if char.isascii() and char.isalnum():
        return char
    if char.isascii() and char.isprintable() and char != " ":
        return "\\" + char
    return f"\\x{{{ord(char):x}}}"


_FOLDS_IN_CLASS = "".join(_class_literal(fold) for folds in CASELESS_FOLDS.values() for fold in folds)
