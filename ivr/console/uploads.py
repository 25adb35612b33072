"""File uploads: the one kind of console POST that is not a small URL-encoded form.

A route that takes a file says how large it may be (``Route.upload``). Its form is
``multipart/form-data`` with the CSRF field first (every upload form puts it first), so the
guard reads and checks the token before any of the file is read; the handler then reads the
other fields and the file from the same stream, each bounded, nothing ever held beyond its
bound and nothing written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, MultipartReader, web

from ivr.console import csrf
from ivr.console.params import BadRequest

MULTIPART = "multipart/form-data"
READER = "ivr.console.upload"
"""The request key of the upload's reader, past its CSRF field."""
MAX_FIELD_BYTES = 4096
MAX_PARTS = 8
FORM_OVERHEAD = 16 * 1024
"""What a multipart body may hold beyond its file: boundaries, headers, small fields."""


@dataclass(frozen=True)
class Upload:
    """An upload form's small fields and its one file (None: no file chosen)."""

    fields: dict[str, str]
    file: bytes | None


async def upload_token(request: web.Request, max_bytes: int) -> object:
    """The CSRF field of an upload, after checking the body's type and size."""
    if request.content_type != MULTIPART:
        raise web.HTTPUnsupportedMediaType(text=f"this form is sent as {MULTIPART}")
    if request.content_length is None:
        raise web.HTTPLengthRequired(text="an upload needs a Content-Length")
    if request.content_length > max_bytes + FORM_OVERHEAD:
        raise web.HTTPRequestEntityTooLarge(max_bytes + FORM_OVERHEAD, request.content_length)
    reader = await request.multipart()
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != csrf.FIELD:
        return None
    request[READER] = reader
    return (await _bounded(part, MAX_FIELD_BYTES)).decode("ascii", "replace")


async def read_upload(request: web.Request, file_field: str, max_bytes: int) -> Upload:
    """The rest of an upload the guard let through: its fields, and the file ``file_field``
    (at most ``max_bytes``, else :class:`BadRequest`)."""
    reader = request.get(READER)
    if not isinstance(reader, MultipartReader):
        raise RuntimeError(f"{request.path} is served without the upload guard")
    fields: dict[str, str] = {}
    file: bytes | None = None
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            return Upload(fields, file)
        if not isinstance(part, BodyPartReader) or not part.name or part.name in fields:
            raise BadRequest("the upload form is not one the console sent")
        if part.name == file_field:
            data = await _bounded(part, max_bytes)
            file = data if data or part.filename else None
        else:
            fields[part.name] = (await _bounded(part, MAX_FIELD_BYTES)).decode("utf-8", "replace")
    raise BadRequest("the upload form has more fields than the console sent")


async def _bounded(part: BodyPartReader, max_bytes: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk():
        data += chunk
        if len(data) > max_bytes:
            raise BadRequest(f"{part.name} is larger than {max_bytes // 1024} kB")
    return bytes(data)
