"""Samples: curated sets of inputs with expected outputs that experiments replay."""
