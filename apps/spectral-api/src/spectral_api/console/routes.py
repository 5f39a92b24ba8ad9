"""The console's router: its pages and its static files (vendored, served from the package)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from spectral_api.console import auth_pages, changeset_pages, template_pages, workspace_pages
from spectral_api.console.api import ApiProblem
from spectral_api.console.rendering import HERE, ConsoleRoute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
router.include_router(auth_pages.router)
router.include_router(workspace_pages.router)
router.include_router(changeset_pages.router)
router.include_router(template_pages.router)

STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


@router.get("/console/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise ApiProblem(404, f"No static file {name}")
    return FileResponse(
        HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
    )
