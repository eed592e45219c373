"""The secret values drills hand to the operator: distinctive per session, so a hit cannot be a coincidence."""

from __future__ import annotations

import secrets

ADMIN_TOKEN = f"drill-adm-{secrets.token_hex(12)}"
S3_ACCESS_KEY = f"AKIADRILL{secrets.token_hex(6).upper()}"
S3_SECRET_KEY = f"drill-s3-secret-{secrets.token_hex(16)}"
SECRETS = [ADMIN_TOKEN, S3_ACCESS_KEY, S3_SECRET_KEY]
