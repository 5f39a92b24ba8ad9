"""The command groups of `spectral`."""
