"""`python -m spectral_api [--host H] [--port P]`: serve the API with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse

import uvicorn

from spectral.platform.shared.logging import configure_logging
from spectral.platform.shared.settings import load_settings
from spectral_api.app import create_app


def main() -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="spectral_api", description="Serve the Spectral REST API")
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
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
