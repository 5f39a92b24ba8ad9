"""Template inference: recover an agent's prompt template from the prompts its LLM spans carried."""
