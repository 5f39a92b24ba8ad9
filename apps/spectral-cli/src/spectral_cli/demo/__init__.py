"""The demo workspace: planted-failure traffic, its seeding over HTTP, and the demo agent's replay endpoint."""
