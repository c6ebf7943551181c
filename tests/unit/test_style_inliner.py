"""The style inliner gives every element the style css-inline gives it."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import css_inline
import pytest
from factories import agreement_view as agreement

from reminder.domain.records import AgreementView, CountryMatch, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest, build_digests
from reminder.domain.weekly_digest import Change, WeeklyBuilder, WeeklyDigest
from reminder.domain.windows import NOTICE, Status
from reminder.mail.css import StyleInliner
from reminder.mail.render import Renderer, packaged_templates_dir

TODAY = date(2024, 3, 4)

Token = tuple[str, ...] | tuple[str, tuple[tuple[str, str | None], ...]]


class _Elements(HTMLParser):
    """The elements and text of a document as a browser reads them, for comparing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[Token] = []
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # An HTML parser adds the <tbody> a table leaves out; css-inline writes it.
        if tag != "tbody":
            self.tokens.append((tag, tuple(sorted(attrs))))
        self.in_body = self.in_body or tag == "body"

    def handle_endtag(self, tag: str) -> None:
        # "<br/>" and "<br>" are the same element.
        if tag not in ("tbody", "br", "meta", "col", "hr", "img", "input", "wbr"):
            self.tokens.append(("/" + tag,))
        self.in_body = self.in_body and tag != "body"

    def handle_comment(self, data: str) -> None:
        self.tokens.append(("comment", data))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.tokens.append(("text", data))
        elif self.in_body:
            # White space renders as one space, and outside the body not at all.
            self.tokens.append(("space",))


def elements(html: str) -> list[Token]:
    reader = _Elements()
    reader.feed(html)
    reader.close()
    merged: list[Token] = []
    for token in reader.tokens:
        if token[0] in ("text", "space") and merged and merged[-1][0] in ("text", "space"):
            texts = [str(part[1]) if part[0] == "text" else " " for part in (merged[-1], token)]
            joined = "".join(texts)
            merged[-1] = ("text", joined) if joined.strip() else ("space",)
        else:
            merged.append(token)
    return merged


def css_inline_whole(html: str) -> str:
    inliner = css_inline.CSSInliner(
        keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
    )
    return str(inliner.inline(html))


def reminder_digest(*due: tuple[AgreementView, int]) -> ReminderDigest:
    recipient = Recipient("coordinator@example.edu", "Ayşe Yılmaz")  # noqa: RUF001
    items = (DueItem(view, window, (view.effective_until - TODAY).days) for view, window in due)
    (digest,) = build_digests(((recipient, item) for item in items), TODAY)
    return digest


def weekly_digest() -> WeeklyDigest:
    builder = WeeklyBuilder(Recipient("coordinator@example.edu"), TODAY, largest_window=180)
    builder.add(agreement(1, effective_until=date(2024, 3, 20)), Status.EXPIRING, 16)
    builder.add(agreement(3, effective_until=date(2024, 1, 10)), Status.EXPIRED, -54)
    builder.add(
        agreement(4, country_code=None, country_match=CountryMatch.UNKNOWN), Status.ACTIVE, 7
    )
    builder.add_unrouted(agreement(6, partner="Unrouted Partner"), 7)
    return builder.build((Change(agreement(7), "renewed", date(2024, 3, 1), "new #8"),))


def rendered_html(renderer: Renderer) -> list[str]:
    """Return the HTML of a varied reminder and of a weekly digest, before inlining."""
    views = [
        agreement(1, notes="Original <kept>\nin the rector's office"),
        agreement(2, effective_until_source=UntilSource.TERM, approximate=True),
        agreement(3, data_warnings=("no conclusion day",), country_code=None),
    ]
    reminder = reminder_digest((views[0], 30), (views[1], 90), (views[2], NOTICE))
    environment = renderer._environment
    return [
        environment.get_template("reminder-body.html").render({"digest": reminder}),
        environment.get_template("weekly-body.html").render({"digest": weekly_digest()}),
    ]


def test_the_packaged_templates_get_css_inlines_styles() -> None:
    inliner = StyleInliner()
    for html in rendered_html(Renderer()) * 2:
        inlined = inliner.inline(html)
        assert elements(inlined) == elements(css_inline_whole(html))
        assert "<style" not in inlined
    # The packaged stylesheet takes the fast way: start tags were remembered.
    assert inliner._tags


@pytest.mark.parametrize(
    "css",
    [
        ".card .label { color: #ff0000; }",
        "td > span { color: #ff0000; }",
        "@media (max-width: 600px) { .card { width: 100%; } }",
        ".label:first-child { color: #ff0000; }",
        "[dir=auto] { unicode-bidi: plaintext; }",
    ],
)
def test_a_stylesheet_with_context_is_inlined_by_css_inline(tmp_path: Path, css: str) -> None:
    packaged = (packaged_templates_dir() / "styles.css").read_text(encoding="utf-8")
    (tmp_path / "styles.css").write_text(packaged + css + "\n", encoding="utf-8")
    renderer = Renderer(tmp_path)
    inliner = StyleInliner()
    for html in rendered_html(renderer):
        assert inliner.inline(html) == css_inline_whole(html)
    assert not inliner._tags


@pytest.mark.parametrize(
    "addition",
    [
        "<script>var a = \"<td class='label'>\";</script>",
        '<link rel="stylesheet" href="x.css">',
        '<textarea><td class="label"></textarea>',
        "<p title='a > b' class=\"muted\">x</p>",
        "<!-- unclosed",
    ],
)
def test_markup_the_reader_cannot_follow_goes_to_css_inline(addition: str) -> None:
    (html, _) = rendered_html(Renderer())
    html = html.replace("</body>", addition + "</body>")
    assert StyleInliner().inline(html) == css_inline_whole(html)


def test_a_tags_own_style_is_merged_as_css_inline_merges_it() -> None:
    (html, _) = rendered_html(Renderer())
    html = html.replace('<td class="intro">', '<td class="intro" style="color: #0000ff">')
    html = html.replace("<br>", '<br class="muted"/>', 1)
    inlined = StyleInliner().inline(html)
    assert elements(inlined) == elements(css_inline_whole(html))
    assert "color: #0000ff" in inlined
