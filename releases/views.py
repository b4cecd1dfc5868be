"""Serving releases: the public list (/releases/, /api/releases/) and the files, streamed with HTTP
Range support. Only files a release lists can be fetched (no path from the URL ever reaches the
file system); a staff full export is visible to staff only."""
from __future__ import annotations

import asyncio
import mimetypes
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from django.http import (
    Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from releases.models import Release
from releases.selectors import releases_visible

CHUNK = 256 * 1024
TYPES = {".parquet": "application/vnd.apache.parquet", ".gz": "application/gzip", ".jsonl": "application/jsonl",
         ".json": "application/json", ".md": "text/markdown; charset=utf-8"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _is_staff(request: HttpRequest) -> bool:
    return bool(getattr(request, "user", None) and request.user.is_active and request.user.is_staff)


def release_json(r: Release) -> dict[str, Any]:
    return {
        "id": r.release_id,
        "kind": r.kind,
        "created": r.created.isoformat(),
        "cutoff": r.cutoff.isoformat(),
        "delay_days": r.delay_days,
        "rows": r.rows,
        "vote_ids": {"first": r.first_vote_id, "last": r.last_vote_id},
        "counts": r.counts,
        "chain_head": r.chain_head,
        "files": [
            {"name": f["name"], "url": reverse("releases:file", args=[r.release_id, f["name"]]), "size": f["size"],
             "sha256": f["sha256"]}
            for f in r.files
        ],
    }


@require_GET
def api_releases(request: HttpRequest) -> JsonResponse:
    """Newest first: id, created, cutoff, counts, files with URLs, sizes and sha256."""
    return JsonResponse({"releases": [release_json(r) for r in releases_visible(staff=_is_staff(request))]})


@require_GET
def releases_page(request: HttpRequest) -> HttpResponse:
    releases = [release_json(r) for r in releases_visible(staff=_is_staff(request))]
    for r in releases:
        r["main_files"] = [f for f in r["files"] if "/" not in f["name"]]
        r["media_files"] = len(r["files"]) - len(r["main_files"])
    return render(request, "releases/releases.html",
                  {"releases": releases, "is_staff": _is_staff(request), "queued": request.GET.get("queued") == "1"})


@require_http_methods(["GET", "HEAD"])
def release_file(request: HttpRequest, release_id: str, name: str) -> HttpResponse:
    release = Release.objects.filter(release_id=release_id).first()
    if release is None or (release.kind != Release.PUBLIC and not _is_staff(request)):
        raise Http404("No such release.")
    entry = next((f for f in release.files if f["name"] == name), None)
    if entry is None:
        raise Http404("No such file in this release.")
    path = Path(release.folder) / name
    if not path.is_file():
        raise Http404("No such file in this release.")
    size = path.stat().st_size
    ctype = TYPES.get(path.suffix.lower()) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    start, end, status = 0, size - 1, 200
    header = request.headers.get("Range", "")
    if header:
        parsed = _parse_range(header, size)
        if parsed is None:
            resp = HttpResponse(status=416)
            resp["Content-Range"] = f"bytes */{size}"
            return resp
        start, end = parsed
        status = 206
    length = max(end - start + 1, 0)
    if request.method == "HEAD":
        resp: HttpResponse | StreamingHttpResponse = HttpResponse(status=status)
    else:
        resp = StreamingHttpResponse(_read(path, start, length), status=status)
    resp["Content-Type"] = ctype
    resp["Content-Length"] = str(length)
    resp["Accept-Ranges"] = "bytes"
    resp["ETag"] = f'"{entry["sha256"]}"'
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Cache-Control"] = "public, max-age=86400, immutable" if release.kind == Release.PUBLIC else "private, no-store"
    if status == 206:
        resp["Content-Range"] = f"bytes {start}-{end}/{size}"
    if not name.endswith((".md", ".json")):
        resp["Content-Disposition"] = f'attachment; filename="{Path(name).name}"'
    return resp


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range (RFC 9110): bytes=a-b, bytes=a-, bytes=-n. None when unsatisfiable."""
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)) or size == 0:
        return None
    if not m.group(1):  # the last n bytes
        n = int(m.group(2))
        return (max(size - n, 0), size - 1) if n > 0 else None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


async def _read(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    """The byte range, chunk by chunk. Asynchronous: under ASGI Django would read a synchronous
    iterator into memory whole before sending it (a multi-GB file)."""
    f = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(f.seek, start)
        while length > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        f.close()


@require_POST
def api_release_full(request: HttpRequest) -> HttpResponse:
    """Staff: make a full export (every vote and model, no delay, still no network identity)."""
    if not _is_staff(request):
        return JsonResponse({"error": "Only staff can make a full export."}, status=403)
    from releases.tasks import build_release

    build_release.delay(full=True)
    if request.content_type != "application/json":  # the staff form on /releases/
        return redirect(reverse("releases:page") + "?queued=1")
    return JsonResponse({"queued": True, "message": "The full export is being written; it appears under /releases/ "
                                                    "(staff only) when done."}, status=202)

