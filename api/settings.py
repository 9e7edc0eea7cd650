"""Connection settings, filled from the add-on preferences or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ValidationError

API_KEY_VARIABLE = "MODELSLAB_API_KEY"
API_BASE_VARIABLE = "MODELSLAB_API_BASE"


@dataclass
class Settings:
    """Everything the client needs; the key is left out of repr so it never reaches a log."""

    api_key: str = field(default="", repr=False)
    api_base: str = ""
    connect_timeout: float = 10
    read_timeout: float = 60
    download_timeout: float = 120
    max_upload_side: int = 1024
    max_upload_bytes: int = 5_000_000
    max_download_bytes: int = 1 << 30
    ca_bundle: str = ""
    proxy: str = ""
    poll_ceiling: float = 10
    job_timeout: float = 3600

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from keyword overrides; an empty key or base falls back to the environment."""
        settings = cls(**overrides)
        if not settings.api_key:
            settings.api_key = os.environ.get(API_KEY_VARIABLE, "").strip()
        if not settings.api_base:
            settings.api_base = os.environ.get(API_BASE_VARIABLE, "").strip()
        return settings

    def resolve(self, url: str) -> str:
        """Point an API URL at `api_base` (scheme, host and port), keeping its path and query."""
        if not self.api_base:
            return url
        base = urlsplit(self.api_base)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValidationError(
                "api_base", self.api_base, "a URL such as https://modelslab.com, or nothing"
            )
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
