"""`python -m spectral_otel_ingest [--host H] [--port P]`: serve OTLP/HTTP ingestion with uvicorn
(default port `SPECTRAL_INGEST_PORT`, 4318 — the OTLP/HTTP port)."""

from spectral_api.runtime import serve
from spectral_otel_ingest.app import create_app

if __name__ == "__main__":
    serve("spectral_otel_ingest", "Serve Spectral's OTLP/HTTP trace ingestion", create_app, ingest=True)
