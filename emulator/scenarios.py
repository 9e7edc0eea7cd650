"""The API key picks the behaviour of each request: `<scenario>` or `<scenario>?opt=val&opt=val`.

A key naming no scenario is an ordinary valid account and gets the server's default scenario.
See README.md for what every scenario does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .replies import Reply, error_reply, json_reply, not_found

STAGES = ("upload", "submit", "fetch", "download")

FAILED_BODY: dict[str, Any] = {
    "status": "failed",
    "id": "",
    "message": "Failed, Try Again",
    "output": "",
}


class ScenarioError(ValueError):
    """A known scenario name with options it does not take or cannot parse."""


def _html(status: int, title: str) -> Reply:
    page = (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), "text/html")


def _rate_limited(s: Scenario) -> Reply:
    return json_reply(
        429,
        {
            "status": "error",
            "message": "Rate limit exceeded. Maximum 5 queued requests allowed.",
            "retry_after": s.retry_after,
        },
        {"Retry-After": str(s.retry_after)},
    )


_INVALID_KEY = {
    "message": "Invalid Api Key",
    "tip": "1. Make sure you are passing the correct API key. "
    "2. Get your API key from https://modelslab.com/dashboard/api-keys",
}
_NO_CREDITS = "Insufficient credits. Please add more credits to continue."

# Scenarios that answer the faulting request with a fixed reply.
_CANNED: dict[str, Callable[[Scenario], Reply]] = {
    "invalid_key": lambda s: error_reply(401, **_INVALID_KEY),
    "invalid_key_200": lambda s: error_reply(200, **_INVALID_KEY),
    "no_credits": lambda s: error_reply(402, _NO_CREDITS),
    "no_credits_200": lambda s: error_reply(200, _NO_CREDITS),
    "plan": lambda s: error_reply(
        403, "Your current plan does not include this feature. Please upgrade your plan."
    ),
    "rate_limited": _rate_limited,
    "rate_limited_200": lambda s: error_reply(
        200,
        "Rate limit exceeded",
        tips="You have exceeded the rate limit, please wait for 30 seconds and try again",
    ),
    "failed": lambda s: json_reply(200, FAILED_BODY),
    "field_errors": lambda s: error_reply(
        200,
        {
            "prompt": ["The prompt field is required."],
            "image": ["The image must be a valid URL."],
        },
    ),
    "messege_error": lambda s: json_reply(
        200, {"status": "error", "messege": "Request failed, please try again later"}
    ),
    "error_field": lambda s: json_reply(
        200, {"status": "error", "error": "Something went wrong while processing the request"}
    ),
    "html_500": lambda s: _html(500, "Internal Server Error"),
    "html_502": lambda s: _html(502, "Bad Gateway"),
    "html_504": lambda s: _html(504, "Gateway Time-out"),
    "http_503": lambda s: _html(503, "Service Temporarily Unavailable"),
    "not_json": lambda s: Reply(
        200,
        b"<br />\n<b>Fatal error</b>:  Allowed memory size exhausted in "
        b"<b>/var/www/html/app/Http/Controllers/ApiController.php</b> on line <b>212</b><br />\n",
        "text/html; charset=UTF-8",
    ),
    "proxy_only": lambda s: (
        _html(503, "Service Temporarily Unavailable") if s.code == 503 else not_found()
    ),
}
_BEHAVIOURS = frozenset({"instant", "processing", "failed_later", "output_string", "mesh_answer"})
_DOWNLOAD = frozenset({"download_drop", "download_truncated", "proxy_only"})
SCENARIOS = frozenset(_CANNED) | _BEHAVIOURS | _DOWNLOAD | {"slow"}


@dataclass(frozen=True)
class Scenario:
    """One parsed key. `at` is the stage where the scenario's fault fires (None: no fault)."""

    name: str
    at: str | None = None
    times: int | None = None
    asynchronous: bool = False
    polls: int = 2
    eta: float = 1.0
    ready_after: float | None = None
    retry_after: int = 30
    code: int = 404
    delay: float = 5.0

    def canned_reply(self) -> Reply | None:
        """The fixed fault reply of this scenario, if it has one."""
        make = _CANNED.get(self.name)
        return make(self) if make else None


def _options_for(name: str) -> frozenset[str]:
    allowed = {"polls", "eta", "seconds"}
    if name not in _BEHAVIOURS:
        allowed |= {"at", "times"}
    if name == "rate_limited":
        allowed.add("retry_after")
    if name == "proxy_only":
        allowed.add("code")
    return frozenset(allowed)


def _number(opts: dict[str, str], name: str, low: float) -> float | None:
    if name not in opts:
        return None
    try:
        value = float(opts[name])
    except ValueError:
        raise ScenarioError(f"option {name}={opts[name]!r} is not a number") from None
    if not value >= low:
        raise ScenarioError(f"option {name} must be at least {low:g}")
    return value


def _integer(opts: dict[str, str], name: str, low: int) -> int | None:
    value = _number(opts, name, low)
    if value is None:
        return None
    if not value.is_integer():
        raise ScenarioError(f"option {name} must be a whole number")
    return int(value)


def build_scenario(name: str, query: str = "") -> Scenario:
    """Parse the options of a known scenario name; raise ScenarioError on a bad option."""
    if name not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {name!r}")
    try:
        opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ScenarioError(f"cannot parse options {query!r}") from None
    unknown = sorted(set(opts) - _options_for(name))
    if unknown:
        raise ScenarioError(f"scenario {name} takes no option {', '.join(unknown)}")

    default_at = "download" if name in _DOWNLOAD else "submit"
    at = opts.get("at", default_at) if name not in _BEHAVIOURS else None
    if at is not None and at not in STAGES:
        raise ScenarioError(f"option at must be one of {', '.join(STAGES)}")
    if name in _DOWNLOAD and at != "download":
        raise ScenarioError(f"scenario {name} only fails at=download")

    polls = _integer(opts, "polls", 0)
    eta = _number(opts, "eta", 0)
    # `seconds` is the delay of `slow`, and the job's duration for every other scenario.
    seconds = _number(opts, "seconds", 0)
    delay, ready_after = (seconds, None) if name == "slow" else (None, seconds)
    if ready_after is not None and eta is None:  # an explicit eta may misjudge the duration
        eta = ready_after
    asynchronous = (
        name in ("processing", "failed_later")
        or at == "fetch"
        or polls is not None
        or eta is not None
        or ready_after is not None
    )
    code = _integer(opts, "code", 0)
    if code not in (None, 404, 503):
        raise ScenarioError("option code must be 404 or 503")
    retry_after = _integer(opts, "retry_after", 0)
    return Scenario(
        name=name,
        at=at,
        times=_integer(opts, "times", 0),
        asynchronous=asynchronous,
        polls=2 if polls is None else polls,
        eta=1.0 if eta is None else eta,
        ready_after=ready_after,
        retry_after=30 if retry_after is None else retry_after,
        code=code or 404,
        delay=5.0 if delay is None else delay,
    )


def parse_key(key: str, default: Scenario) -> Scenario:
    """The scenario a request's API key asks for; keys naming no scenario get `default`."""
    name, _, query = key.partition("?")
    if name not in SCENARIOS:
        return default
    return build_scenario(name, query)
