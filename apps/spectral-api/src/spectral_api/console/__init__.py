"""The web console: server-rendered pages at `/` on the API's own origin.

Every page acts through the API itself (an in-process call carrying the signed-in user's JWT),
so the console can never see or do more than the same user could with curl."""

from spectral_api.console.routes import router

__all__ = ["router"]
