"""Review notes and decision reasons are Markdown; this is the one place that turns them into HTML.

markdown-it-py renders CommonMark with raw HTML switched off, so a note's own
tags come out as text; nh3 (the ammonia sanitiser) then keeps only the tags a
note needs and links with safe schemes, as a second wall should the renderer
ever let something through. Images are dropped: the Content-Security-Policy
would refuse another site's picture anyway, and a note is words.
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# breaks: a line break in a note is one on the page, as people type notes (and as GitHub comments do).
_RENDERER = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table").enable("strikethrough")

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
# No style attributes (a table's column alignment): the Content-Security-Policy refuses inline styles.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def render_markdown(text: str) -> SafeString:
    """`text` (a note, a reason) as sanitised HTML, safe to put in a page unescaped."""
    html = _RENDERER.render(text or "")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 has just cleaned it
