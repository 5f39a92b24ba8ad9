"""`python -m spectral_otel_ingest [--host H] [--port P]`: serve OTLP/HTTP ingestion with uvicorn
(default port `SPECTRAL_INGEST_PORT`, 4318 — the OTLP/HTTP port)."""

from __future__ import annotations

import argparse

import uvicorn

from spectral.platform.shared.logging import configure_logging
from spectral.platform.shared.settings import load_settings
from spectral_otel_ingest.app import create_app


def main() -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="spectral_otel_ingest", description="Serve Spectral's OTLP ingest")
    parser.add_argument("--host", default=settings.ingest_host)
    parser.add_argument("--port", type=int, default=settings.ingest_port)
    args = parser.parse_args()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
