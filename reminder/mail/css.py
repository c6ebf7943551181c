"""CSS inlining: an HTML document's <style> block moved into style="" attributes.

Outlook and Gmail drop <style> blocks, so the HTML of every e-mail carries its styles
on its elements. The only module that imports css_inline.
"""

from __future__ import annotations

import re

import css_inline


class StyleInliner:
    """Moves the CSS of a document's <style> block into style="" attributes, as css-inline
    does, and removes the block.

    css-inline parses and writes the whole document every time, which costs more than
    rendering it. When every selector of the stylesheet is a plain element or class one
    (as in the packaged styles.css), an element's style depends on its start tag alone:
    css-inline is then asked once per distinct start tag, and each document's tags get
    the style remembered for them. Any other stylesheet or document (a <link>, a
    <script>, a selector with context, markup this reader cannot follow) goes through
    css-inline whole. Either way every element ends with the same style attribute.
    """

    #: Distinct start tags remembered for one stylesheet; the templates write a few dozen.
    MEMORY = 4096

    def __init__(self) -> None:
        # Remote stylesheets stay unloaded: rendering must never fetch from the network.
        self._inliner = css_inline.CSSInliner(
            keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
        )
        self._css: str | None = None
        self._tags: dict[str, str] = {}

    def inline(self, html: str) -> str:
        """Return `html` with its CSS inlined and its <style> block removed.

        Raises ValueError when the CSS cannot be inlined.
        """
        start = html.find("<style>")
        end = html.find("</style>", start)
        if start < 0 or end < 0:
            return self._whole(html)
        css = html[start + len("<style>") : end]
        body = html[:start] + html[end + len("</style>") :]
        if css != self._css:
            if not _context_free(css):
                return self._whole(html)
            self._css, self._tags = css, {}
        elif len(self._tags) > self.MEMORY:
            self._tags = {}
        if _STYLE_OPENING.search(body) or _TITLE_WITH_MARKUP.search(body):
            return self._whole(html)
        try:
            return _MARKUP.sub(self._styled, body)
        except _NeedsDocumentError:
            return self._whole(html)

    def _styled(self, markup: re.Match[str]) -> str:
        """Return the markup `markup` matched with its style: remembered or learned."""
        text = markup[0]
        styled = self._tags.get(text)
        if styled is None:
            styled = self._tags[text] = self._learn(text)
        return styled

    def _learn(self, text: str) -> str:
        """Return the markup `text` as css-inline would write its style.

        Raises _NeedsDocumentError when only css-inline's parser can tell.
        """
        if _COMMENT.fullmatch(text) or _END_TAG.fullmatch(text) or _DOCTYPE.fullmatch(text):
            return text
        tag = _START_TAG.fullmatch(text)
        if tag is None or tag[1].lower() in _NEEDS_DOCUMENT or self._css is None:
            raise _NeedsDocumentError(text)
        name = tag[1].lower()
        probe = text[:-1].rstrip("/").rstrip() + f" {_PROBE}>"
        head = f"<style>{self._css}</style>"
        if name == "html":
            document = f"{probe}<head>{head}</head><body></body></html>"
        elif name == "head":
            document = f"<html>{probe}{head}</head><body></body></html>"
        elif name == "body":
            document = f"<html><head>{head}</head>{probe}</body></html>"
        elif name in _HEAD_ELEMENTS:
            document = f"<html><head>{head}{probe}</head><body></body></html>"
        else:
            before, after = _TABLE_CONTEXT.get(name, ("", ""))
            document = f"<html><head>{head}</head><body>{before}{probe}{after}</body></html>"
        found = _PROBED.search(self._whole(document))
        if found is None:
            raise _NeedsDocumentError(text)
        style = _STYLE_VALUE.search(found[0])
        if style is None:
            return text
        own = _STYLE_ATTRIBUTE.search(text)
        if own is not None:
            return f"{text[: own.start()]} {style[0].strip()}{text[own.end() :]}"
        cut = len(text) - 2 if text.endswith("/>") else len(text) - 1
        return f"{text[:cut].rstrip()} {style[0].strip()}{text[cut:]}"

    def _whole(self, html: str) -> str:
        try:
            return str(self._inliner.inline(html))
        except css_inline.InlineError as error:
            raise ValueError(str(error)) from error


class _NeedsDocumentError(Exception):
    """Markup whose style only css-inline's reading of the whole document can give."""


def _context_free(css: str) -> bool:
    """Return whether every rule of `css` has only element and class selectors."""
    rules = _CSS_COMMENT.sub("", css)
    if "@" in rules or "\\" in rules or "<" in rules:
        return False
    for rule in _CSS_RULE.finditer(rules):
        if not all(_SIMPLE_SELECTOR.fullmatch(part.strip()) for part in rule[1].split(",")):
            return False
    return not _CSS_RULE.sub("", rules).strip()


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_RULE = re.compile(r"([^{}]+)\{[^{}]*\}")
_SIMPLE_SELECTOR = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z_-][\w-]*)*|(?:\.[A-Za-z_-][\w-]*)+"
)
_STYLE_OPENING = re.compile(r"<style\b", re.IGNORECASE)
# A title's text is not markup: a "<" in it other than its end tag is left to css-inline.
_TITLE_WITH_MARKUP = re.compile(r"<title\b[^>]*>[^<]*<(?!/title\s*>)", re.IGNORECASE)
# Comments (Outlook's conditional ones among them), tags, and a "<" that HTML would
# read as the start of markup; any other "<" is text.
_MARKUP = re.compile(r"<!--.*?-->|<[^<>]*>|<(?=[A-Za-z/!?])", re.DOTALL)
_COMMENT = re.compile(r"<!--(?!-?>).*?-->", re.DOTALL)
_END_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>")
_DOCTYPE = re.compile(r"<!DOCTYPE\s+html\s*>", re.IGNORECASE)
_START_TAG = re.compile(
    r"""<([A-Za-z][A-Za-z0-9]*)(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
    r"\s*/?>"
)
# Elements whose content is not markup (scripts, raw text) or another language, and
# those that load or change what the document is.
_NEEDS_DOCUMENT = frozenset(
    {"base", "iframe", "link", "math", "noembed", "noframes", "noscript", "object"}
    | {"plaintext", "script", "style", "svg", "template", "textarea", "xmp"}
)
_PROBE = 'data-reminder-probe=""'
_PROBED = re.compile(rf"<[A-Za-z][A-Za-z0-9]*\s(?:[^>]*\s)?{_PROBE}[^>]*>")
_STYLE_VALUE = re.compile(r'\sstyle="[^"]*"')
_STYLE_ATTRIBUTE = re.compile(r"""\s+style\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.I)
_HEAD_ELEMENTS = frozenset({"meta", "title"})
# Where a probed element goes for an HTML parser to keep it where it is.
_TABLE_CONTEXT = {
    "td": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "th": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "tr": ("<table><tbody>", "</tbody></table>"),
    "tbody": ("<table>", "</table>"),
    "thead": ("<table>", "</table>"),
    "tfoot": ("<table>", "</table>"),
    "caption": ("<table>", "</table>"),
    "colgroup": ("<table>", "</table>"),
    "col": ("<table><colgroup>", "</colgroup></table>"),
}
