"""Agents: the agents themselves, their immutable config versions and managed prompt templates."""
