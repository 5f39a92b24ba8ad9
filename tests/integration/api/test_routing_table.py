"""The route table the edge checks use is computed once per app and follows routes added later."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from spectral_api.routing_table import route_for


def test_route_for_sees_routes_added_after_the_first_lookup() -> None:
    app = FastAPI()
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    async def get_item(item_id: str) -> None: ...

    @items.get("/new")
    async def new_item() -> None: ...

    app.include_router(items)
    first = route_for(app, "GET", "/items/new")
    assert first is not None
    assert first.path == "/items/new"  # the most specific route
    assert route_for(app, "POST", "/items/new") is None
    assert route_for(app, "GET", "/items/new") is first  # served from the table

    @app.post("/items/new")
    async def create_item() -> None: ...

    added = route_for(app, "POST", "/items/new")
    assert added is not None
    assert added.path == "/items/new"
    assert "POST" in added.methods
