"""The page's own files, from the built bundle in `static/`: index.html at `/`, the rest by their names.

Only files directly in the folder are served (no subfolder, no dot file), so no request
path reaches anything else on disk.  Each answer forbids framing (clickjacking), sniffing
and any script, style or connection from elsewhere (the bundle needs no CDN).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from meshplane.api import responses
from meshplane.store.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
_NAME = re.compile(r"^/([A-Za-z0-9_-][A-Za-z0-9._-]*)$")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".map": "application/json", ".svg": "image/svg+xml",
          ".png": "image/png", ".txt": "text/plain; charset=utf-8"}  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class StaticFiles:
    """Answers GET and HEAD for the files of one folder, as API Gateway proxy responses."""

    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self.folder = folder

    def answer(self, method: str, path: str) -> dict[str, Any]:
        found = _NAME.match("/index.html" if path == "/" else path)
        file = self.folder / found.group(1) if found else None
        if method not in ("GET", "HEAD") or file is None or file.suffix not in _TYPES or not file.is_file():
            return responses.error(NotFound(f"the console has no page at {path[:200]}"))
        return {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(file.read_bytes()).decode(),
                "headers": {"Content-Type": _TYPES[file.suffix], **SECURITY_HEADERS}}
