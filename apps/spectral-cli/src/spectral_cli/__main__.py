"""`python -m spectral_cli` is `spectral`."""

from spectral_cli.main import run

run()
