"""Errors the client raises: each carries a message an artist can act on.

Every error says what happened and what to do, and whether the account may have been charged,
so the interface can show `message` as it is and warn when credits may be spent.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFERENCES_HINT = (
    "Set it in Edit > Preferences > Add-ons > ModelsLab 3D, "
    "or in the MODELSLAB_API_KEY environment variable."
)
DASHBOARD_HINT = "Check your ModelsLab dashboard (https://modelslab.com/dashboard)"


class ModelsLabError(Exception):
    """Base class: `message` is shown to the artist; `may_have_charged` warns about credits."""

    def __init__(self, message: str, *, may_have_charged: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.may_have_charged = may_have_charged


class ValidationError(ModelsLabError):
    """A value was refused before anything was sent."""

    def __init__(self, field: str, value: object, allowed: str, message: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(message or f"{field}: {value!r} is not allowed; expected {allowed}.")


class AuthError(ModelsLabError):
    """The API key is missing or refused."""

    def __init__(self, detail: str = "") -> None:
        lead = f"ModelsLab refused the API key ({detail})." if detail else "The API key is missing."
        super().__init__(f"{lead} {PREFERENCES_HINT}")


class CreditsError(ModelsLabError):
    """The account has no credits left."""

    def __init__(self) -> None:
        super().__init__(
            "Your ModelsLab account is out of credits. "
            "Add credits on modelslab.com, then try again."
        )


class PlanError(ModelsLabError):
    """The account's plan does not include this endpoint."""

    def __init__(self) -> None:
        super().__init__(
            "Your ModelsLab plan does not include this feature. "
            "Upgrade the plan on modelslab.com or pick another generator."
        )


class RateLimitError(ModelsLabError):
    """Too many requests queued on the account; `retry_after` is in seconds when known."""

    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after
        wait = f"about {retry_after:g} seconds" if retry_after is not None else "a little while"
        super().__init__(
            "ModelsLab is rate limiting this account. "
            f"Wait {wait}, or let queued generations finish, then try again."
        )


class RequestRejected(ModelsLabError):
    """ModelsLab answered that the request itself is wrong (HTTP 400 or status error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"ModelsLab refused the request: {detail}")


class ServerError(ModelsLabError):
    """A 5xx answer, often an HTML page from a proxy in front of the API."""

    def __init__(self, status: int, detail: str = "") -> None:
        self.status = status
        super().__init__(
            f"ModelsLab is not answering right now (HTTP {status}{_colon(detail)}). "
            "Try again in a few minutes."
        )


class ProtocolError(ModelsLabError):
    """The answer was not JSON, or not shaped like a ModelsLab answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"ModelsLab sent an answer this add-on cannot read ({detail}). "
            "Try again later; if it keeps happening, check the API base URL in the preferences."
        )


class NetworkError(ModelsLabError):
    """No connection: refused, DNS, proxy or TLS failure."""

    def __init__(self, detail: str, *, tls: bool = False) -> None:
        self.tls = tls
        hint = (
            "The secure connection failed: if you are behind a company proxy or antivirus, "
            "set its CA bundle file (and the proxy) in the add-on preferences."
            if tls
            else "Check your internet connection, and the proxy setting in the add-on preferences."
        )
        super().__init__(f"Could not reach ModelsLab ({detail}). {hint}")


class RequestTimeout(ModelsLabError):
    """A request or the whole job took longer than allowed."""


class GenerationFailed(ModelsLabError):
    """ModelsLab accepted the job but reported that it failed."""

    def __init__(self, detail: str, *, may_have_charged: bool) -> None:
        super().__init__(
            f"The generation failed on ModelsLab{_colon(detail)}. "
            "Try again, perhaps with another image or other settings.",
            may_have_charged=may_have_charged,
        )


class SubmitUncertain(ModelsLabError):
    """The generation request may have been accepted but no usable answer came back."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The generation request was sent but no usable answer came back ({detail}). "
            "It was not sent again, so you are not charged twice. "
            f"{DASHBOARD_HINT} before trying again.",
            may_have_charged=True,
        )


class DownloadError(ModelsLabError):
    """The result exists but could not be downloaded (or was not the expected file)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The result could not be downloaded: {detail}. "
            "Retry the job soon: ModelsLab keeps results for about 24 hours.",
            may_have_charged=True,
        )


class Cancelled(ModelsLabError):
    """The artist cancelled; a submitted job keeps its remote id and can be resumed."""

    def __init__(self, *, may_have_charged: bool = False) -> None:
        super().__init__("Cancelled.", may_have_charged=may_have_charged)


def _colon(detail: str) -> str:
    return f": {detail}" if detail else ""


def describe_body_error(body: Mapping[str, object]) -> str:
    """Turn `message`, else `messege`, else `error` (text, list or field dict) into one line."""
    for name in ("message", "messege", "error"):
        text = _flatten(body.get(name))
        if text:
            return text
    return ""


def _flatten(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        parts = (f"{field}: {text}" for field, item in value.items() if (text := _flatten(item)))
        return " ".join(_sentence(part) for part in parts)
    if isinstance(value, list | tuple):
        return " ".join(_sentence(text) for item in value if (text := _flatten(item)))
    return str(value)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."
