"""Server-side HTML with the standard library: every value escaped unless it is already markup.

Pages are ``string.Template`` files in ``templates/``; :func:`render` escapes each value it
fills in, except :class:`Markup` (HTML this module built from escaped parts). So a transcript
holding ``<script>`` is shown as text wherever it lands, and forgetting to escape is not a
possible mistake in a page module: only this module makes Markup from text.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from string import Template
from urllib.parse import urlencode

from ivr.console import csrf


class Markup(str):
    """Text that is HTML already (made here from escaped parts)."""


def escape(value: object) -> Markup:
    """``value`` as HTML text (markup passes unchanged)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], separator: str = "\n") -> Markup:
    return Markup(separator.join(escape(part) for part in parts))


@functools.cache
def _template(name: str) -> Template:
    text = (resources.files("ivr.console") / "templates" / name).read_text("utf-8")
    return Template(text)


def render(template: str, /, **values: object) -> Markup:
    """The template file with every ``$value`` filled in, escaped."""
    return Markup(_template(template).substitute({key: escape(v) for key, v in values.items()}))


def element(tag: str, content: object = "", **attributes: object) -> Markup:
    """One element; attribute names with ``_`` become ``-`` (``class_`` is ``class``)."""
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for name, value in attributes.items()
        if value is not None
    )
    return Markup(f"<{tag}{attrs}>{escape(content)}</{tag}>")


def link(href: str, text: object, **query: str) -> Markup:
    return element("a", text, href=f"{href}?{urlencode(query)}" if query else href)


def table(headings: Iterable[str], rows: Iterable[Iterable[object]], class_: str = "") -> Markup:
    head = element("tr", join(element("th", heading) for heading in headings))
    body = join(element("tr", join(element("td", cell) for cell in row)) for row in rows)
    return element(
        "table", join([element("thead", head), element("tbody", body)]), class_=class_ or None
    )


def fields(pairs: Mapping[str, object]) -> Markup:
    """A definition list of names and values."""
    return element("dl", join(join([element("dt", k), element("dd", v)]) for k, v in pairs.items()))


def hidden(name: str, value: object) -> Markup:
    """A hidden form field."""
    return Markup(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">')


def hidden_token(token: str) -> Markup:
    """The CSRF field every form carries."""
    return hidden(csrf.FIELD, token)


def when(epoch: float | None) -> str:
    """A time as staff read it: UTC, to the second."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    """A figure rounded for reading; empty when not recorded."""
    return "" if value is None else f"{value:.{digits}f}{unit}"
