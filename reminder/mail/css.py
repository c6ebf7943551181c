"""CSS inlining: an HTML document's <style> block moved into style="" attributes.

Outlook and Gmail drop <style> blocks, so the HTML of every e-mail carries its styles
on its elements. css-inline reads each rendered document whole, as its docs show; a
Renderer keeps one configured inliner for all the documents it renders. The only
module that imports css_inline.
"""

from __future__ import annotations

import css_inline


def style_inliner() -> css_inline.CSSInliner:
    """Return an inliner that removes <style> and <link> tags and loads nothing remote.

    Remote stylesheets stay unloaded: rendering must never fetch from the network.
    """
    return css_inline.CSSInliner(
        keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
    )


def inline_css(inliner: css_inline.CSSInliner, html: str) -> str:
    """Return `html` with its CSS inlined by `inliner` and its <style> block removed.

    Raises ValueError when the CSS cannot be inlined.
    """
    try:
        return str(inliner.inline(html))
    except css_inline.InlineError as error:
        raise ValueError(str(error)) from error
