"""The `spectral` command-line client."""
