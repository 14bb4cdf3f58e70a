"""The ward's records as FHIR R4, downloaded from the console: a zip of Bulk Data NDJSON.

Why this shape: a hospital integrator takes in FHIR Bulk Data ($export) output, one NDJSON
file per resource type, which bulk loaders read a line at a time (HAPI's $import, the cloud
FHIR stores' import); a single Bundle of a whole ward would be one JSON document to parse
entirely, and servers cap their size. The zip holds those files as `healthbot fhir export`
writes them, the Questionnaire the responses answer, and `manifest.json` shaped like a Bulk
Data completion manifest (each output's `url` being its file name in the zip). The
per-resident transaction Bundles are for sending to a live server (`healthbot fhir push`).

Nothing is built whole in memory: the export writes the NDJSON files into a temporary
folder a page of residents at a time (storage/fhir/export.py), then the zip is compressed
a megabyte at a time (in a thread) and streamed to the browser as it is made.
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiohttp import web

from bot.config import TIME_ZONE
from storage.console import staff_key
from storage.fhir import export as fhir_export
from web.auth import RT, member_of, ward_scope
from web.pages import locale_of

routes = web.RouteTableDef()
CHUNK = 1 << 20


class _Sink:
    """What zipfile writes, taken out after each chunk (no seek: zipfile then streams)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zipped(files: list[tuple[str, Path]]) -> Iterator[bytes]:
    """A zip of these files (name in the zip, path), a piece at a time."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
        for name, path in files:
            info = zipfile.ZipInfo(name, datetime.now(TIME_ZONE).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size  # decides zip64 before writing
            with path.open("rb") as src, zf.open(info, "w") as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def manifest(folder: Path, done: fhir_export.Written, request_url: str) -> list[tuple[str, Path]]:
    """The files of the zip, manifest.json first (written into `folder`); empty types left out,
    as Bulk Data leaves them out of its output list."""
    outputs = [{"type": kind, "url": f"{kind}.ndjson", "count": n} for kind, n in done.resources.items() if n]
    (folder / "manifest.json").write_bytes(orjson.dumps({
        "transactionTime": datetime.now(UTC).isoformat(), "request": request_url,
        "requiresAccessToken": False, "output": outputs, "error": []}, option=orjson.OPT_INDENT_2))
    names = ["manifest.json", "Questionnaire.json", *(o["url"] for o in outputs)]
    return [(name, folder / name) for name in names]


@routes.get("/export.fhir.zip")
async def download(request: web.Request) -> web.StreamResponse:
    ward = ward_scope(request, request.query.get("ward"))  # another ward: 403
    if ward is None:
        raise web.HTTPBadRequest()
    rt = request.app[RT]
    with tempfile.TemporaryDirectory(prefix="hb-fhir-") as tmp:
        folder = Path(tmp)
        done = await fhir_export.export(rt.sessions, ward, folder, "ndjson", locale_of(request))
        async with rt.sessions.begin() as s:
            s.add(fhir_export.audit_entry(done, ward, "fhir-ndjson", "staff_export", "staff",
                                          staff_key(member_of(request))))
        files = manifest(folder, done, f"{rt.settings.web_url}{request.rel_url}")
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": 'attachment; filename="khai-bao-fhir.zip"'})
        await response.prepare(request)
        with closing(zipped(files)) as pieces:  # a browser that goes away closes the files too
            while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                if piece:
                    await response.write(piece)
        await response.write_eof()
    return response
