"""Importing a residents file from the console: the same import as `healthbot residents
import`, first run inside a transaction that is rolled back (the preview: what would be
added, updated, left as it is, refused and why), then applied when the staff member agrees.

The uploaded file waits under DATA_DIR/uploads with a random name until it is applied or
replaced; a staff member's file is only ever read for that staff member's ward.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
from aiohttp import web

from storage import console, registry
from storage.audit import entry
from storage.registry_rows import MessageError
from web.auth import RT, SESSION, member_of, ward_scope
from web.pages import render

routes = web.RouteTableDef()
SUFFIXES = (".csv", ".xlsx")
SHOWN_REJECTIONS = 200


def _uploads(request: web.Request) -> Path:
    folder = Path(request.app[RT].settings.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pending(request: web.Request) -> Path | None:
    """The file this session uploaded and has not applied yet."""
    name = request[SESSION].data.get("upload", "")
    path = _uploads(request) / name if name else None
    return path if path is not None and path.is_file() else None


async def _run(request: web.Request, path: Path, ward: str | None, apply: bool) -> registry.ImportReport:
    rt = request.app[RT]
    conn = await asyncpg.connect(rt.database_url)
    try:
        outer = conn.transaction()
        await outer.start()
        try:
            report = await registry.import_file(conn, path, ward, actor=f"web:{console.staff_key(member_of(request))}")
        except BaseException:
            await outer.rollback()
            raise
        if apply:
            await outer.commit()
        else:
            await outer.rollback()  # the preview: nothing stays
        return report
    finally:
        await conn.close()


@routes.get("/import")
async def form(request: web.Request) -> web.Response:
    return render(request, "import.html", {"report": None, "error": None, "applied": False,
                                           "ward": ward_scope(request, request.query.get("ward"))})


@routes.post("/import")
async def preview(request: web.Request) -> web.Response:
    data = await request.post()
    ward = ward_scope(request, str(data.get("ward") or "") or None)
    upload = data.get("file")
    suffix = Path(getattr(upload, "filename", "") or "").suffix.lower()
    if not hasattr(upload, "file") or suffix not in SUFFIXES:
        return render(request, "import.html", {"report": None, "error": "web.import.need_file", "applied": False,
                                               "ward": ward}, status=422)
    old = _pending(request)
    if old:
        old.unlink()
    path = _uploads(request) / f"{secrets.token_hex(16)}{suffix}"
    path.write_bytes(upload.file.read())
    sess = request[SESSION]
    sess.data["upload"], sess.data["ward"] = path.name, ward
    await request.app[RT].services.console.save(sess)
    return await _report(request, path, ward, apply=False)


@routes.post("/import/apply")
async def apply(request: web.Request) -> web.Response:
    path = _pending(request)
    if path is None:
        raise web.HTTPBadRequest()
    ward = ward_scope(request, request[SESSION].data.get("ward"))
    try:
        return await _report(request, path, ward, apply=True)
    finally:
        path.unlink(missing_ok=True)
        request[SESSION].data.pop("upload", None)
        await request.app[RT].services.console.save(request[SESSION])


async def _report(request: web.Request, path: Path, ward: str | None, apply: bool) -> web.Response:
    try:
        report = await _run(request, path, ward, apply)
    except MessageError as e:
        return render(request, "import.html", {"report": None, "error": e.msg_id, "vars": e.vars, "applied": False,
                                               "ward": ward}, status=422)
    async with request.app[RT].sessions.begin() as s:
        s.add(entry("web_import" if apply else "web_import_preview", actor_kind="staff",
                    actor_id=console.staff_key(member_of(request)),
                    details={"ward": ward, "added": report.added, "updated": report.updated,
                             "rejected": len(report.rejected)}))
    return render(request, "import.html", {"report": report, "error": None, "applied": apply and report.committed,
                                           "ward": ward, "shown": report.rejected[:SHOWN_REJECTIONS]})
