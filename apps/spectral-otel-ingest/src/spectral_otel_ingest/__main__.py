"""`python -m spectral_otel_ingest [--host H] [--port P] [--workers N]`: serve OTLP/HTTP ingestion with
uvicorn (default port `SPECTRAL_INGEST_PORT`, 4318 — the OTLP/HTTP port; default workers
`SPECTRAL_INGEST_WORKERS`, 1)."""

from spectral_api.runtime import serve

if __name__ == "__main__":
    serve(
        "spectral_otel_ingest",
        "Serve Spectral's OTLP/HTTP trace ingestion",
        "spectral_otel_ingest.app:create_app",
        ingest=True,
    )
