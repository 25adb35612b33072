"""CSV downloads that a spreadsheet opens as data, never as formulas.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before looking) is a formula to Excel and LibreOffice; caller transcripts
and reasons are text anyone can make, so such a cell gets a leading ``'`` (OWASP's advice),
which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from aiohttp import web

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,120}")


def safe_cell(value: object) -> str:
    """``value`` as CSV text a spreadsheet will not run."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def csv_text(headings: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(heading) for heading in headings])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def csv_response(
    file_name: str, headings: Sequence[str], rows: Iterable[Sequence[object]]
) -> web.Response:
    """A download named ``file_name`` (letters, digits, ``_ . -`` only)."""
    if not FILE_NAME.fullmatch(file_name):
        raise ValueError(f"not a plain file name: {file_name!r}")
    return web.Response(
        text=csv_text(headings, rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )
