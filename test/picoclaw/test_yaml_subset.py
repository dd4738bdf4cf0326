"""yaml_subset: the strict reader for PicoClaw's .security.yml (block maps, lists, scalars)."""

from __future__ import annotations

import pytest

import fakes
from traffic_guardian.picoclaw.yaml_subset import YamlError, loads


def test_picoclaw_security_layout_reads_as_nested_maps_and_lists():
    text = """# secrets
model_list:
  gpt-5.4:0:
    api_keys:
      - "first-key"
      - 'second ''quoted'' key'   # trailing comment
  claude:
    api_keys:
    - plain-key-at-key-indent
channels:
  telegram:
    token: 123456:AAplain-with-colon
  pico: {}
web:
  brave:
    api_keys: [a-key, "b-key"]
  glm_search:
    api_key: "esc\\"aped\\u0041"
skills: {}
empty:
nulls: ~
"""
    assert loads(text) == {
        "model_list": {"gpt-5.4:0": {"api_keys": ["first-key", "second 'quoted' key"]},
                       "claude": {"api_keys": ["plain-key-at-key-indent"]}},
        "channels": {"telegram": {"token": "123456:AAplain-with-colon"}, "pico": {}},
        "web": {"brave": {"api_keys": ["a-key", "b-key"]}, "glm_search": {"api_key": 'esc"apedA'}},
        "skills": {},
        "empty": None,
        "nulls": None,
    }


def test_list_of_maps_and_document_marker():
    assert loads("---\nservers:\n  - name: a\n    url: http://x:1/p\n  - name: b\n") == {
        "servers": [{"name": "a", "url": "http://x:1/p"}, {"name": "b"}]}


def test_hash_inside_a_plain_scalar_is_not_a_comment_but_after_a_space_it_is():
    assert loads("k: abc#def # note\n") == {"k": "abc#def"}


def test_scalars_stay_strings():
    assert loads("a: 123\nb: true\nc: 1.5\n") == {"a": "123", "b": "true", "c": "1.5"}


def test_empty_document_is_none():
    assert loads("# only a comment\n\n") is None


@pytest.mark.parametrize("text, reason", [
    ("a:\n\tb: c\n", "tab"),
    ("a: &anchor x\n", "unsupported"),
    ("a: *alias\n", "unsupported"),
    ("a: !tag x\n", "unsupported"),
    ("a: |\n  block\n", "unsupported"),
    ("a: >\n  folded\n", "unsupported"),
    ("a: {b: c}\n", "flow mappings"),
    ("a: 'unterminated\n", "unterminated"),
    ("a: b\na: c\n", "duplicate"),
    ("a:\n    b: c\n  d: e\n", "indentation"),
    ("a: b\n---\nc: d\n", "one document"),
    ("just a line\n", "expected 'key: value'"),
    ('a: "bad \\q escape"\n', "escape"),
])
def test_outside_the_subset_is_refused_with_a_line_number(text, reason):
    with pytest.raises(YamlError) as error:
        loads(text)
    assert reason in str(error.value)
    assert str(error.value).startswith("line ")


def test_errors_never_echo_the_offending_text():
    secret_like = fakes.opaque_secret(32)
    for text in (f"a: &{secret_like}\n", f"a: '{secret_like}\n", f"a: b\n{secret_like}\n",
                 f"a: \"\\q{secret_like}\"\n"):
        with pytest.raises(YamlError) as error:
            loads(text)
        assert secret_like not in str(error.value)


def test_deep_nesting_is_bounded():
    text = "".join(f"{'  ' * depth}k{depth}:\n" for depth in range(80)) + f"{'  ' * 80}leaf: x\n"
    with pytest.raises(YamlError, match="too deep"):
        loads(text)
