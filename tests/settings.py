"""Test-only overrides of dashboard.settings, each with the reason it exists."""

from dashboard.settings import *  # noqa: F403

# Fast password hashing: tests create users constantly and never need a strong hash.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's test client sends Host: testserver.
ALLOWED_HOSTS = ["*"]
# Keep the gzip-bomb test quick: 64 MiB decompressed is far beyond every sample file.
SUITEHEALTH_MAX_FILE_BYTES = 64 * 2**20
# The test receivers (webhook, SMTP) listen on 127.0.0.1, which webhooks may not reach by
# default; tests of the blocking set the default back.
SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS = []
