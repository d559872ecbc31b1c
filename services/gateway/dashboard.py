"""The regulator's dashboard page (`GET /dashboard/`): static files from services/gateway/dashboard/,
served as they are (nothing is loaded from the internet: Chart.js is vendored under vendor/).
Only the files listed in the folder are served; the page reads its data from /api/v1 with the
token the officer gives it (never in a URL query, so it is never in an access log)."""
from __future__ import annotations

import mimetypes
from pathlib import Path

from werkzeug.wrappers import Response

FOLDER = Path(__file__).with_name("dashboard")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".md": "text/plain; charset=utf-8"}
# The page may run only its own scripts and talk only to its own origin.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")


def _files() -> dict[str, Path]:
    return {path.relative_to(FOLDER).as_posix(): path for path in FOLDER.rglob("*") if path.is_file()}


def page(name: str) -> Response:
    path = _files().get(name)
    if path is None:
        return Response("not found", status=404, mimetype="text/plain")
    kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Response(path.read_bytes(), status=200, content_type=kind,
                    headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache",
                             "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})
