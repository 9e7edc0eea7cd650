"""HTTP client for the ModelsLab API: upload, submit, fetch and download, with honest retries.

Only requests that cannot cost credits are retried freely (upload, fetch, download). The
generation POST is re-sent only when ModelsLab surely did not accept it (429, 503, or no
connection was ever made); once it may have reached the server it is never sent again.

Every blocking call except the generation POST runs in a short-lived helper thread, so a
cancel is honoured within a fraction of a second even while a read is stalled; callbacks
still run on the caller's thread.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from .endpoints import Endpoint
from .errors import (
    AuthError,
    Cancelled,
    CreditsError,
    DownloadError,
    GenerationFailed,
    ModelsLabError,
    NetworkError,
    PlanError,
    ProtocolError,
    RateLimitError,
    RequestRejected,
    RequestTimeout,
    ServerError,
    SubmitUncertain,
    ValidationError,
    describe_body_error,
)
from .imaging import FILE_EXTENSIONS, MIME_TYPES, SNIFF_BYTES, looks_complete, sniff_file_kind
from .settings import Settings

log = logging.getLogger(__name__)

UPLOAD_URL = "https://modelslab.com/api/v6/base64_to_url"
API_HOSTS = ("modelslab.com", "stablediffusionapi.com")  # the key is only ever sent to these
USER_AGENT = "ModelsLab-3D-Blender"

ATTEMPTS = 4  # per request, counting the first
DOWNLOAD_ROUNDS = 4  # passes over an output's mirrors
RETRY_DELAY = 0.5  # first pause between attempts, doubled each time
MAX_RETRY_DELAY = 8.0
MAX_RATE_LIMIT_WAIT = 120.0  # longest `retry_after` honoured before giving up
CANCEL_CHECK_INTERVAL = 0.1  # also how often download progress is reported
DOWNLOAD_CHUNK = 64 * 1024
MIN_SECRET_LENGTH = 16

T = TypeVar("T")
ProgressCallback = Callable[[int, int | None], None]
RetryCallback = Callable[[str], None]  # a sentence for the user: what failed, when again


@dataclass
class Answer:
    """A ModelsLab answer, with the variants of its shape folded into one."""

    status: str
    remote_id: str = ""
    eta: float | None = None
    fetch_url: str = ""
    outputs: list[str] = field(default_factory=list)
    proxy_links: list[str] = field(default_factory=list)
    future_links: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Answer:
        remote_id = body.get("id")
        meta = body.get("meta")
        fetch_url = body.get("fetch_result")
        return cls(
            status=str(body.get("status", "")),
            remote_id="" if remote_id in (None, "") else str(remote_id),
            eta=_seconds(body.get("eta")),
            fetch_url=fetch_url if isinstance(fetch_url, str) else "",
            outputs=_links(body.get("output")),
            proxy_links=_links(body.get("proxy_links")),
            future_links=_links(body.get("future_links")),
            meta=dict(meta) if isinstance(meta, Mapping) else {},
            message=describe_body_error(body),
        )


def mirror_groups(
    outputs: Sequence[str], proxy_links: Sequence[str], future_links: Sequence[str]
) -> list[list[str]]:
    """For each output file, the URLs to try in order: the output, its proxy, its future link.

    A mirror matches an output by file name, else by position. Without outputs, the future
    links are the outputs.
    """
    primaries = list(outputs) or list(future_links)
    groups = []
    for index, url in enumerate(primaries):
        group = [url]
        for mirrors in (proxy_links, future_links):
            match = _matching_link(url, index, mirrors)
            if match and match not in group:
                group.append(match)
        groups.append(group)
    return groups


class Client:
    """Talks to ModelsLab, or to `settings.api_base` when set (a proxy or the emulator).

    It keeps no per-job state: use one per worker thread, or share one.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._owns_session = session is None

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def upload(
        self,
        data: bytes,
        mime: str,
        *,
        cancel: threading.Event | None = None,
        on_retry: RetryCallback | None = None,
    ) -> str:
        """Upload an encoded image and return its temporary URL (free, so retried)."""
        if mime not in MIME_TYPES.values():
            raise ValidationError("image type", mime, ", ".join(MIME_TYPES.values()))
        if len(data) > self.settings.max_upload_bytes:
            raise ValidationError(
                "image size",
                f"{len(data)} bytes",
                f"at most {self.settings.max_upload_bytes} bytes",
            )
        encoded = base64.b64encode(data).decode("ascii")
        body = {"key": self._key(), "base64_string": f"data:{mime};base64,{encoded}"}
        url = self.settings.resolve(UPLOAD_URL)
        answer = self._retrying(
            "upload", lambda: self._post(url, body, "upload"), cancel, on_retry=on_retry
        )
        links = _links(answer.get("output")) or _links(answer.get("link"))
        if not links:
            raise ProtocolError("the upload answer has no image URL")
        return links[0]

    def submit(
        self,
        endpoint: Endpoint,
        payload: Mapping[str, object],
        *,
        cancel: threading.Event | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Answer:
        """Start a generation. Raises SubmitUncertain when it may have been accepted unanswered.

        The POST itself is not interruptible: abandoning it could lose a job already paid for.
        `cancel` only cuts short the waits between rejected attempts.
        """
        url = self.settings.resolve(endpoint.url)
        body = {**payload, "key": self._key()}
        return Answer.from_body(
            self._retrying(
                "submit",
                lambda: self._post(url, body, "submit"),
                cancel,
                threaded=False,
                on_retry=on_retry,
            )
        )

    def fetch(
        self,
        fetch_url: str,
        *,
        cancel: threading.Event | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Answer:
        """Ask for the state of a running job (free, so retried)."""
        url = self.settings.resolve(fetch_url)
        host = urlsplit(url).hostname or ""
        if not self.settings.api_base and not _is_api_host(host):
            raise ProtocolError(f"the job's status URL points to an unknown host, {host!r}")
        body = {"key": self._key()}
        return Answer.from_body(
            self._retrying(
                "fetch", lambda: self._post(url, body, "fetch"), cancel, on_retry=on_retry
            )
        )

    def download(
        self,
        urls: Sequence[str],
        folder: Path,
        stem: str,
        expected_kinds: Collection[str],
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Download one output to `folder/<stem>.<kind>`, trying its mirrors in turn.

        The file is streamed to `<stem>.part` and renamed once complete and of an expected
        kind (checked by its first bytes). A 404 (not ready yet), a dropped or cut-off
        transfer, or an error page is retried a bounded number of times.
        """
        if not urls:
            raise DownloadError("ModelsLab gave no file to download")
        folder.mkdir(parents=True, exist_ok=True)
        problem = ""
        for round_number in range(DOWNLOAD_ROUNDS):
            if round_number:
                _pause(_backoff(round_number - 1), cancel)
            worth_retrying = False
            for url in urls:
                try:
                    return self._download_once(
                        url, folder, stem, expected_kinds, on_progress, cancel
                    )
                except _Unavailable as unavailable:
                    problem = str(unavailable)
                    worth_retrying |= unavailable.transient
                    log.info("download of %s failed: %s", _describe_url(url), problem)
            if not worth_retrying:
                break
        raise DownloadError(problem)

    def _key(self) -> str:
        key = self.settings.api_key.strip()
        if not key:
            raise AuthError()
        return key

    def _transport(self) -> dict[str, Any]:
        settings = self.settings
        proxies = {"http": settings.proxy, "https": settings.proxy} if settings.proxy else None
        return {
            "verify": settings.ca_bundle or True,
            "proxies": proxies,
            "headers": {"User-Agent": USER_AGENT},
        }

    def _retrying(
        self,
        stage: str,
        send: Callable[[], dict[str, Any]],
        cancel: threading.Event | None,
        *,
        threaded: bool = True,
        on_retry: RetryCallback | None = None,
    ) -> dict[str, Any]:
        """Send, retrying what is safe to retry; `on_retry` hears why and when, for the user."""
        attempt = 0
        while True:
            try:
                return _interruptible(send, cancel) if threaded else send()
            except (
                RateLimitError,
                ServerError,
                NetworkError,
                RequestTimeout,
                ProtocolError,
            ) as error:
                retryable = attempt + 1 < ATTEMPTS and _may_retry(error, stage)
                delay = _retry_delay(error, attempt) if retryable else None
                if delay is None:
                    raise
                log.info(
                    "%s attempt %d failed (%s); retrying in %.1f s",
                    stage,
                    attempt + 1,
                    type(error).__name__,
                    delay,
                )
                if on_retry is not None:
                    on_retry(f"{error.message} Retrying in {delay:.0f} s.")
                _pause(delay, cancel)
                attempt += 1

    def _post(self, url: str, body: dict[str, Any], stage: str) -> dict[str, Any]:
        started = time.monotonic()
        try:
            response = self._session.post(
                url,
                json=body,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                **self._transport(),
            )
        except requests.RequestException as error:
            log.debug("%s POST %s failed: %s", stage, _describe_url(url), type(error).__name__)
            raise self._transport_error(error, url, stage) from None
        with response:
            log.debug(
                "%s POST %s -> HTTP %d in %.2f s",
                stage,
                _describe_url(url),
                response.status_code,
                time.monotonic() - started,
            )
            return self._interpret(response, stage)

    def _transport_error(self, error: Exception, url: str, stage: str) -> ModelsLabError:
        host = urlsplit(url).hostname or url
        if isinstance(error, requests.exceptions.SSLError):
            return NetworkError(f"the secure connection to {host} failed", tls=True)
        if isinstance(error, requests.exceptions.ConnectTimeout):
            return RequestTimeout(
                f"Connecting to {host} took longer than {self.settings.connect_timeout:g} s. "
                "Check your internet connection and the proxy setting in the add-on preferences."
            )
        if _never_sent(error):
            return NetworkError(f"could not connect to {host}")
        timed_out = isinstance(error, requests.exceptions.ReadTimeout)
        if timed_out:
            detail = f"{host} did not answer within {self.settings.read_timeout:g} s"
        else:
            detail = f"the connection to {host} was dropped"
        if stage == "submit":
            return SubmitUncertain(detail)
        if timed_out:
            return RequestTimeout(f"{detail[0].upper()}{detail[1:]}. Try again later.")
        return NetworkError(detail)

    def _interpret(self, response: requests.Response, stage: str) -> dict[str, Any]:
        """The answer's JSON body, or the error it stands for."""
        status = response.status_code
        if stage == "submit" and status in (502, 504):  # a gateway lost the answer, not the job
            raise SubmitUncertain(f"HTTP {status} from a gateway")
        body = self._json_body(response)
        if body is None:
            raise _non_json_error(status, response, stage)
        message = describe_body_error(body)
        if status >= 400 or body.get("status") in ("error", "failed"):
            raise _body_error(status, body, message, response.headers, stage)
        if body.get("status") not in ("success", "processing"):
            detail = f"unknown status {body.get('status')!r}"
            if stage == "submit":
                raise SubmitUncertain(detail)
            raise ProtocolError(detail)
        return body

    def _json_body(self, response: requests.Response) -> dict[str, Any] | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        scrubbed = _scrub(body, self._key())
        assert isinstance(scrubbed, dict)
        return scrubbed

    def _download_once(
        self,
        url: str,
        folder: Path,
        stem: str,
        expected_kinds: Collection[str],
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> Path:
        """One attempt at one URL; raises _Unavailable when another attempt may succeed."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise _Unavailable(f"{_describe_url(url)} is not a web address")
        part = folder / f"{stem}.part"
        progress: list[int | None] = [0, None]
        reported: list[int | None] = [-1, None]

        def report() -> None:
            if on_progress is not None and progress != reported:
                reported[:] = progress
                on_progress(progress[0] or 0, progress[1])

        def transfer() -> int:
            return self._stream_to(url, part, progress, cancel)

        try:
            size = _interruptible(transfer, cancel, on_tick=report)
        except BaseException:
            if not (cancel and cancel.is_set()):  # a cancelled helper may still hold the file
                part.unlink(missing_ok=True)
            raise
        report()
        kind = self._check_file(part, size, url, expected_kinds)
        target = folder / f"{stem}{FILE_EXTENSIONS[kind]}"
        os.replace(part, target)
        log.info("downloaded %s (%d bytes) to %s", _describe_url(url), size, target.name)
        return target

    @staticmethod
    def _check_file(part: Path, size: int, url: str, expected_kinds: Collection[str]) -> str:
        """The kind of a downloaded file, by its first bytes; refuse a wrong or cut-off file."""
        with part.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
            stream.seek(max(0, size - SNIFF_BYTES))
            tail = stream.read()
        kind = sniff_file_kind(head, size)
        part_is_fine = kind in expected_kinds and looks_complete(kind or "", head, tail, size)
        if kind is not None and part_is_fine:
            return kind
        part.unlink(missing_ok=True)
        if kind not in expected_kinds:
            expected = " or ".join(sorted(expected_kinds))
            raise _Unavailable(f"{_describe_url(url)} is not a {expected} file", transient=False)
        raise _Unavailable(f"{_describe_url(url)} sent an incomplete {kind} file ({size} bytes)")

    def _stream_to(
        self,
        url: str,
        part: Path,
        progress: list[int | None],
        cancel: threading.Event | None,
    ) -> int:
        """Stream `url` into `part` (runs in a helper thread); returns the size."""
        limit = self.settings.max_download_bytes
        transport = self._transport()
        transport["headers"] = {**transport["headers"], "Accept-Encoding": "identity"}
        try:
            with self._session.get(
                url,
                stream=True,
                timeout=(self.settings.connect_timeout, self.settings.download_timeout),
                **transport,
            ) as response:
                if response.status_code != 200:
                    raise _Unavailable(f"{_describe_url(url)} answered HTTP {response.status_code}")
                total = _content_length(response)
                if total is not None and total > limit:
                    raise _too_large(limit)
                progress[1] = total
                done = 0
                with part.open("wb") as stream:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK):
                        if cancel is not None and cancel.is_set():
                            raise Cancelled(may_have_charged=True)
                        done += len(chunk)
                        if done > limit:
                            raise _too_large(limit)
                        stream.write(chunk)
                        progress[0] = done
        except requests.exceptions.Timeout:
            raise _Unavailable(
                f"{_describe_url(url)} sent nothing for {self.settings.download_timeout:g} s"
            ) from None
        except requests.RequestException as error:
            tls = isinstance(error, requests.exceptions.SSLError)
            kind = "secure connection failed" if tls else "connection dropped"
            raise _Unavailable(f"{_describe_url(url)}: {kind}") from None
        except OSError as error:
            raise DownloadError(f"could not write {part.name}: {error.strerror}") from None
        if total is not None and done != total:
            raise _Unavailable(f"{_describe_url(url)} was cut off at {done} of {total} bytes")
        return done


class _Unavailable(Exception):
    """This URL failed; another mirror may work, and a later attempt too when `transient`."""

    def __init__(self, detail: str, *, transient: bool = True) -> None:
        super().__init__(detail)
        self.transient = transient


def _interruptible(
    work: Callable[[], T],
    cancel: threading.Event | None,
    on_tick: Callable[[], None] | None = None,
) -> T:
    """Run `work` in a helper thread; raise Cancelled as soon as `cancel` is set.

    A cancelled helper is left to finish on its own (it writes nothing more and its
    answer is dropped). `on_tick` runs on this thread about every CANCEL_CHECK_INTERVAL.
    """
    outcome: list[Any] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:
            outcome.append((False, error))
        finally:
            finished.set()

    threading.Thread(target=run, name="modelslab-request", daemon=True).start()
    while not finished.wait(CANCEL_CHECK_INTERVAL):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if on_tick is not None:
            on_tick()
    succeeded, value = outcome[0]
    if succeeded:
        return value
    raise value


def _pause(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled()


def _backoff(attempt: int) -> float:
    return min(RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)


def _may_retry(error: ModelsLabError, stage: str) -> bool:
    """Whether another attempt is safe and may help.

    At submit that is only for answers that mean "not accepted": 429, 503, and failures before
    a connection was made (the others were already turned into SubmitUncertain).
    """
    if isinstance(error, NetworkError) and error.tls:
        return False  # a certificate problem does not go away by itself
    if stage != "submit":
        return True
    if isinstance(error, ServerError):
        return error.status == 503
    return isinstance(error, RateLimitError | NetworkError | RequestTimeout)


def _retry_delay(error: ModelsLabError, attempt: int) -> float | None:
    """Seconds to wait before the next attempt; None when the wait asked for is too long."""
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return error.retry_after if error.retry_after <= MAX_RATE_LIMIT_WAIT else None
    return _backoff(attempt)


def _non_json_error(status: int, response: requests.Response, stage: str) -> ModelsLabError:
    content_type = response.headers.get("Content-Type", "no type").split(";")[0]
    if status == 401:
        return AuthError(f"HTTP {status}")
    if status == 402:
        return CreditsError()
    if status == 403:
        return PlanError()
    if status == 429:
        return RateLimitError(_seconds(response.headers.get("Retry-After")))
    if status == 503 or (status >= 500 and stage != "submit"):
        return ServerError(status)
    if stage == "submit":
        return SubmitUncertain(f"HTTP {status} with {content_type} instead of JSON")
    return ProtocolError(f"HTTP {status} with {content_type} instead of JSON")


def _body_error(
    status: int,
    body: Mapping[str, Any],
    message: str,
    headers: Mapping[str, str],
    stage: str,
) -> ModelsLabError:
    """Classify an error answer by HTTP code, else by its words (the API often says 200)."""
    words = message.lower()
    if status == 401 or "api key" in words:
        return AuthError(message or f"HTTP {status}")
    if status == 402 or "credit" in words:
        return CreditsError()
    if status == 403 or re.search(r"\bplan\b", words):
        return PlanError()
    if status == 429 or "rate limit" in words:
        return RateLimitError(_retry_after(body, headers))
    if body.get("status") == "failed":
        accepted = stage == "fetch" or body.get("id") not in (None, "")
        return GenerationFailed(message, may_have_charged=accepted)
    if status >= 500:
        return ServerError(status, message)
    if stage == "fetch":
        return GenerationFailed(message, may_have_charged=True)
    return RequestRejected(message or f"HTTP {status} without a reason")


def _retry_after(body: Mapping[str, Any], headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry_after`, the Retry-After header, or "wait for 30 seconds"."""
    for value in (body.get("retry_after"), headers.get("Retry-After")):
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
    for name in ("tips", "tip", "message"):
        text = body.get(name)
        found = re.search(r"(\d+(?:\.\d+)?)\s*sec", text) if isinstance(text, str) else None
        if found:
            return float(found.group(1))
    return None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _links(value: object) -> list[str]:
    """Web links from a list or a plain string; "" and other junk give nothing."""
    items = value if isinstance(value, list) else [value]
    links = []
    for item in items:
        if isinstance(item, str) and urlsplit(item.strip()).scheme in ("http", "https"):
            links.append(item.strip())
    return links


def _matching_link(url: str, index: int, mirrors: Sequence[str]) -> str:
    name = _file_name(url)
    for mirror in mirrors:
        if _file_name(mirror) == name:
            return mirror
    return mirrors[index] if index < len(mirrors) else ""


def _file_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def _describe_url(url: str) -> str:
    """Host and file name, for logs and messages (never a query string)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}/.../{_file_name(url)}" if parts.path else parts.hostname or "?"


def _is_api_host(host: str) -> bool:
    return any(host == known or host.endswith("." + known) for known in API_HOSTS)


def _content_length(response: requests.Response) -> int | None:
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() and encoding == "identity" else None


def _too_large(limit: int) -> DownloadError:
    return DownloadError(
        f"the file is larger than the {limit / 1e6:g} MB safety limit; it was not kept, and "
        "the job can still be downloaded from the ModelsLab dashboard"
    )


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps (requests nests urllib3's errors in args)."""
    found: list[BaseException] = []
    pending: list[object] = [error]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or item in found:
            continue
        found.append(item)
        pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        pending.extend(item.args)
    return found


def _never_sent(error: Exception) -> bool:
    """True when the request surely never reached the server (no connection was made)."""
    if isinstance(
        error,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.SSLError
        | requests.exceptions.ProxyError,
    ):
        return True
    return any(isinstance(cause, NewConnectionError) for cause in _causes(error))


def _scrub(value: object, secret: str) -> object:
    """A copy of a parsed body with the key blanked wherever the server echoed it.

    Keys shorter than MIN_SECRET_LENGTH are left alone: real keys are long, and a short test
    key such as "plan" would otherwise blank ordinary words.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return value
    if isinstance(value, str):
        return value.replace(secret, "[API key]") if secret in value else value
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    if isinstance(value, dict):
        return {
            name: item if name == "status" else _scrub(item, secret) for name, item in value.items()
        }
    return value
