"""Evaluations: rubrics (dimensions scored by the engine's scorers) and objectives over them."""
