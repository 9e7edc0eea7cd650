"""The HTTP server: routes, jobs and files, all in memory.

One `_App` holds the state and turns a request into a `Reply`; `_Handler` only moves bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .images import ImageError, open_image, sniff_format
from .models import CONTENT_TYPES, generate
from .params import validate
from .replies import Reply, error_reply, field_errors, json_reply, not_found
from .scenarios import (
    FAILED_BODY,
    Scenario,
    ScenarioError,
    build_scenario,
    parse_key,
)

MAX_UPLOAD = 5 * 1024 * 1024
MAX_BODY = 16 * 1024 * 1024
RECORD_LIMIT = 200  # strings longer than this are shortened in the request record


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    json: dict[str, Any] | None


@dataclass(frozen=True)
class _Endpoint:
    name: str
    image_fields: tuple[str, ...]  # accepted names of the image URL field, preferred first
    fetch: str  # path prefix of the fetch URL for its jobs
    legacy: bool  # older API: `messege` spelling and `"output": ""` while processing


_V3_FETCH = "/api/v3/fetch/"
_ENDPOINTS = {
    "/api/v6/3d/image_to_3d": _Endpoint("v6", ("image", "init_image"), "/api/v6/3d/fetch/", False),
    "/api/v1/enterprise/3d/image_to_3d": _Endpoint(
        "enterprise", ("init_image",), "/api/v1/enterprise/3d/fetch/", False
    ),
    "/api/v3/img_to_3d": _Endpoint("v3", ("image",), _V3_FETCH, True),
    "/api/v5/multiview": _Endpoint("multiview", ("image",), _V3_FETCH, True),
    "/api/v5/depth2img": _Endpoint("depth2img", ("init_image",), _V3_FETCH, True),
}
_FETCH = re.compile(r"(/api/v6/3d/fetch/|/api/v1/enterprise/3d/fetch/|/api/v3/fetch/)(\d+)")
_UPLOADS = {"/api/v6/base64_to_url": "base64_string", "/api/v3/base64_crop": "image"}
_FILE = re.compile(r"/(temp|cdn|proxy)/([\w.-]+)")
_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg);base64,(.*)", re.DOTALL)


@dataclass(frozen=True)
class _File:
    data: bytes
    content_type: str


@dataclass
class _Job:
    id: int
    endpoint: _Endpoint
    key: str
    scenario: Scenario
    created: float
    meta: dict[str, Any]
    file_name: str
    file: _File
    generation_time: float
    polls_answered: int = 0

    def finished(self, now: float) -> bool:
        if not self.scenario.asynchronous:
            return True
        if self.scenario.ready_after is not None:
            return now - self.created >= self.scenario.ready_after
        return self.polls_answered >= self.scenario.polls

    def available(self, now: float) -> bool:
        """Whether its output files can be downloaded yet (never, for a failed job)."""
        return self.finished(now) and self.scenario.name != "failed_later"


def _shorten(value: Any) -> Any:
    """Keep the record readable: base64 images become a prefix and their length."""
    if isinstance(value, str) and len(value) > RECORD_LIMIT:
        return f"{value[:64]}...[{len(value)} chars]"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def _plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@dataclass
class _State:
    jobs: dict[int, _Job] = field(default_factory=dict)
    outputs: dict[str, _Job] = field(default_factory=dict)
    uploads: dict[str, _File] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    fault_counts: dict[tuple[str, str], int] = field(default_factory=dict)


class _App:
    def __init__(self, default: Scenario, log: Callable[[str], None] | None) -> None:
        self.default = default
        self.log = log
        self.base_url = ""
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._state = _State()
        self._next_job = 100_000
        self._next_upload = 1_000

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, raw_body: bytes | None) -> Reply:
        path = urlsplit(raw_path).path
        body: Any = None
        if raw_body is not None:
            try:
                body = json.loads(raw_body)
            except (ValueError, UnicodeDecodeError):
                body = None
        with self._lock:
            self._state.requests.append(
                RecordedRequest(
                    method, raw_path, _shorten(body) if isinstance(body, dict) else None
                )
            )
        if method == "GET":
            return self._download(path)

        fetch = _FETCH.fullmatch(path)
        if path in _ENDPOINTS:
            stage = "submit"
        elif fetch:
            stage = "fetch"
        elif path in _UPLOADS:
            stage = "upload"
        else:
            return error_reply(404, f"No route for POST {path}")
        if not isinstance(body, dict):
            return error_reply(400, "The request body must be a JSON object.")
        key = body.get("key")
        if not isinstance(key, str) or not key.strip():
            return field_errors({"key": ["The key field is required."]})
        try:
            scenario = parse_key(key, self.default)
        except ScenarioError as exc:
            return error_reply(400, f"emulator: {exc}")
        fault = self._fault(key, scenario, stage)
        if fault:
            return fault

        if stage == "submit":
            return self._submit(_ENDPOINTS[path], body, key, scenario)
        if fetch:
            return self._fetch(fetch.group(1), int(fetch.group(2)))
        return self._upload(path, body)

    def _fires(self, key: str, scenario: Scenario, stage: str) -> bool:
        """Whether the scenario's fault hits this request, counting toward `times`."""
        if scenario.at != stage:
            return False
        with self._lock:
            seen = self._state.fault_counts.get((key, stage), 0)
            self._state.fault_counts[key, stage] = seen + 1
        return scenario.times is None or seen < scenario.times

    def _fault(self, key: str, scenario: Scenario, stage: str) -> Reply | None:
        return self._fault_reply(scenario) if self._fires(key, scenario, stage) else None

    def _fault_reply(self, scenario: Scenario) -> Reply | None:
        """The reply of a fault that fired, or None to go on normally (after a `slow` wait)."""
        if scenario.name == "slow":
            self.stopping.wait(scenario.delay)
            return None
        return scenario.canned_reply()

    # --- uploads ----------------------------------------------------------------------------

    def _upload(self, path: str, body: dict[str, Any]) -> Reply:
        name = _UPLOADS[path]
        label = name.replace("_", " ")
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return field_errors({name: [f"The {label} field is required."]})
        match = _DATA_URL.fullmatch(value.strip())
        if not match:
            return field_errors({name: [f"The {label} must be a PNG or JPEG data URL."]})
        try:
            data = base64.b64decode("".join(match.group(2).split()), validate=True)
        except binascii.Error:
            return field_errors({name: [f"The {label} is not valid base64."]})
        if len(data) > MAX_UPLOAD:
            return field_errors({name: [f"The {label} must not be greater than 5 MB."]})
        invalid = field_errors({name: [f"The {label} must be a valid PNG or JPEG image."]})
        kind = sniff_format(data)
        if kind is None:
            return invalid
        try:
            open_image(data)
        except ImageError:
            return invalid

        ext = "png" if kind == "PNG" else "jpg"
        file_name = f"{10**19 + secrets.randbelow(9 * 10**19)}.{ext}"
        with self._lock:
            self._next_upload += 1
            upload_id = self._next_upload
            self._state.uploads[file_name] = _File(data, CONTENT_TYPES[ext])
        url = f"{self.base_url}/temp/{file_name}"
        if path == "/api/v3/base64_crop":
            return json_reply(
                200,
                {
                    "status": "success",
                    "messege": "image uploaded",
                    "link": url,
                    "request_id": upload_id,
                },
            )
        return json_reply(200, {"status": "success", "id": upload_id, "output": [url]})

    def _file(self, path: str) -> tuple[_File, _Job | None] | None:
        """The file served at a /temp/, /cdn/ or /proxy/ path, with the job that made it.

        A job's output counts as there only once the job is done.
        """
        match = _FILE.fullmatch(path)
        if not match:
            return None
        host, name = match.groups()
        with self._lock:
            if host == "temp":
                upload = self._state.uploads.get(name)
                return (upload, None) if upload else None
            job = self._state.outputs.get(name)
        return (job.file, job) if job and job.available(time.monotonic()) else None

    def _load(self, url: str) -> bytes | None:
        """An image URL's bytes, if it points at this emulator and the file is there."""
        parts = urlsplit(url)
        port = urlsplit(self.base_url).port
        if parts.scheme != "http" or parts.netloc not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return None
        found = self._file(parts.path)
        return found[0].data if found else None

    # --- jobs -----------------------------------------------------------------------------

    def _submit(
        self, endpoint: _Endpoint, body: dict[str, Any], key: str, scenario: Scenario
    ) -> Reply:
        fields = endpoint.image_fields
        image_field = next((f for f in fields if f in body), fields[0])
        url = body.get(image_field, "")
        errors: dict[str, list[str]] = {}
        if not isinstance(url, str) or not url.strip():
            errors[image_field] = [f"The {image_field.replace('_', ' ')} field is required."]
        params, field_problems = validate(endpoint.name, body)
        errors.update(field_problems)
        if errors:
            # depth2img is the oldest endpoint: its docs show validation errors with HTTP 200.
            return field_errors(errors, 200 if endpoint.name == "depth2img" else 400)

        source = self._load(url)
        if source is None:
            return error_reply(400, f"Could not download the image from {url}")
        started = time.perf_counter()
        try:
            data, ext = generate(
                endpoint.name, source, params, mesh_answer=scenario.name == "mesh_answer"
            )
        except ImageError:
            return error_reply(400, f"Could not read the image at {url}")
        generation_time = round(time.perf_counter() - started, 3)

        prefix = str(uuid.uuid4())
        meta = self._meta(endpoint, params, url, prefix)
        with self._lock:
            self._next_job += 1
            job = _Job(
                self._next_job,
                endpoint,
                key,
                scenario,
                time.monotonic(),
                meta,
                f"{prefix}.{ext}",
                _File(data, CONTENT_TYPES[ext]),
                generation_time,
            )
            self._state.jobs[job.id] = job
            self._state.outputs[job.file_name] = job
        if scenario.asynchronous:
            return json_reply(200, self._processing_body(job))
        return json_reply(200, self._success_body(job))

    @staticmethod
    def _meta(endpoint: _Endpoint, params: dict[str, Any], url: str, prefix: str) -> dict[str, Any]:
        """Echo of the parameters as the docs' `meta` shows them, with the seed really used."""
        meta = {k: v for k, v in params.items() if k not in ("webhook", "track_id")}
        if meta.get("seed") in (None, 0):
            meta["seed"] = secrets.randbelow(2**31 - 1) + 1
        meta["file_prefix"] = prefix
        meta["init_image" if endpoint.name == "depth2img" else "image"] = url
        if endpoint.name == "enterprise":
            meta.update(render=False, temp="no")
        if endpoint.name == "v3":
            meta.update(outdir="out", output_type="gif", prompt="", negative_prompt="")
        if endpoint.name == "multiview":
            meta["outdir"] = "out"
        return meta

    def _urls(self, job: _Job) -> tuple[str, str]:
        return f"{self.base_url}/cdn/{job.file_name}", f"{self.base_url}/proxy/{job.file_name}"

    def _processing_body(self, job: _Job) -> dict[str, Any]:
        legacy = job.endpoint.legacy
        return {
            "status": "processing",
            "tip": "Your request is being processed. Fetch the result from fetch_result "
            "after eta seconds.",
            "eta": _plain_number(job.scenario.eta),
            "messege" if legacy else "message": "Try to fetch request after seconds estimated",
            "fetch_result": f"{self.base_url}{job.endpoint.fetch}{job.id}",
            "id": job.id,
            "output": "" if legacy else [],
            "meta": job.meta,
            "future_links": [self._urls(job)[0]],
        }

    def _success_body(self, job: _Job) -> dict[str, Any]:
        output, proxy = self._urls(job)
        body: dict[str, Any] = {
            "status": "success",
            "generationTime": job.generation_time,
            "id": job.id,
            "output": [output],
            "proxy_links": [proxy],
            "nsfw_content_detected": False,
            "meta": job.meta,
        }
        if job.endpoint.name == "enterprise":
            body.update(warning="", webhook_status="")
        if job.endpoint.name == "depth2img":
            # As its doc page shows: one plain string and no mirrors.
            body["output"] = output
            del body["proxy_links"]
        if job.scenario.name == "output_string":
            body["output"] = output
        return body

    def _fetch(self, prefix: str, job_id: int) -> Reply:
        with self._lock:
            job = self._state.jobs.get(job_id)
            if job is None or job.endpoint.fetch != prefix:
                return error_reply(404, f"No request found with id {job_id}")
            still_running = not job.finished(time.monotonic())
            if still_running:
                job.polls_answered += 1
        if still_running:
            if job.endpoint.legacy:
                return json_reply(
                    200,
                    {
                        "status": "processing",
                        "id": "",
                        "messege": "Request processing",
                        "output": "",
                    },
                )
            return json_reply(
                200,
                {
                    "status": "processing",
                    "message": "try again later.",
                    "output": "",
                },
            )
        if job.scenario.name == "failed_later":
            return json_reply(200, FAILED_BODY)
        return json_reply(200, self._success_body(job))

    # --- files ----------------------------------------------------------------------------

    def _download(self, path: str) -> Reply:
        found = self._file(path)
        if found is None:
            return not_found()
        file, job = found
        whole = Reply(200, file.data, file.content_type)
        if job is None:
            return whole
        scenario = job.scenario
        if scenario.name == "proxy_only" and not path.startswith("/cdn/"):
            return whole
        if not self._fires(job.key, scenario, "download"):
            return whole
        half = len(file.data) // 2
        if scenario.name == "download_drop":
            return Reply(200, file.data, file.content_type, cut_at=half)
        if scenario.name == "download_truncated":
            return Reply(200, file.data[:half], file.content_type)
        return self._fault_reply(scenario) or whole


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: _App

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up early (timeouts, dropped downloads) is not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError | socket.timeout):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._send(self.server.app.handle("GET", self.path, None))

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            # The body is left unread, so this connection cannot carry another request.
            self.close_connection = True
            self._send(error_reply(413, "The request body has no length or is too large."))
            return
        self._send(self.server.app.handle("POST", self.path, self.rfile.read(length)))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.cut_at is not None or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body if reply.cut_at is None else reply.body[: reply.cut_at])

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.log:
            self.server.app.log(f"{self.address_string()} {format % args}")


class Emulator:
    """The local ModelsLab API. Start it (or use `with`), point a client at `base_url`."""

    def __init__(
        self,
        port: int = 0,
        default_scenario: str = "instant",
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        name, _, query = default_scenario.partition("?")
        self._app = _App(build_scenario(name, query), log)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._app.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy; long base64 strings shortened)."""
        return self._app.recorded()

    def reset(self) -> None:
        """Forget all jobs, files, uploads, recorded requests and `times` counters."""
        self._app.reset()

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._app.stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.app = self._app
        self._app.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="modelslab-emulator",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._app.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
