"""Identity fixtures shared by every API test: registered tenants, tokens and API keys."""
