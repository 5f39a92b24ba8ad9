"""`python -m spectral_api [--host H] [--port P]`: serve the API with uvicorn (uvloop + httptools)."""

from spectral_api.runtime import serve

if __name__ == "__main__":
    serve("spectral_api", "Serve the Spectral REST API", "spectral_api.app:create_app")
