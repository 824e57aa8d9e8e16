"""The operator page: ``/`` serves ``api/static/index.html``, ``/static/...`` its JS and CSS.

The files hold no data and no secret, so they are public; the page asks for an API key and
calls ``/api/v1`` with it like any other client. Plain files, no build step: what is in
``api/static`` is what the browser runs. Both routes stay out of the OpenAPI document (they are
not part of the API's contract, and the schema fuzzer has nothing to generate for them).
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["STATIC_DIR", "mount"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Everything comes from this origin (the machines have no internet): no inline script or style
# and no third-party source may run, even if an alert's text ever got into the markup.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A new release must reach the operators at their next load, not after a cache expires.
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers=_PAGE_HEADERS)


class _StaticFiles(StaticFiles):
    """StaticFiles whose answers revalidate (ETag) and are never MIME-sniffed."""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/static`` (after the API's routes)."""
    app.include_router(router)
    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")
