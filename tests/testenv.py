"""Where the tests find the real services of this machine (overridable for other machines)."""

import os

PG_ADMIN_DSN = os.environ.get("SPECTRAL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SPECTRAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_JWT_SECRET = "test-secret-" + "x" * 40
