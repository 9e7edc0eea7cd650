"""What the HTTP layer sends back: a status, a body, and how to send it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One HTTP answer.

    `cut_at` makes the handler announce the full Content-Length but send only that many bytes
    and then close the connection, as a dropped download does.
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), "application/json", headers or {})


def error_reply(status: int, message: Any, **extra: Any) -> Reply:
    """The API's usual error envelope: `{"status": "error", "message": ...}`."""
    return json_reply(status, {"status": "error", "message": message, **extra})


def field_errors(errors: dict[str, list[str]], status: int = 400) -> Reply:
    """Validation failure, Laravel style: one list of reasons per field."""
    return error_reply(status, errors)


def not_found() -> Reply:
    """A CDN-style 404 for files, plain text as object stores answer."""
    return Reply(404, b"Not Found", "text/plain; charset=utf-8")
