"""The HTTP client against the emulator over real HTTP: every request kind and its retries."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from api.client import Answer, Client, mirror_groups
from api.endpoints import DEPTH2IMG, ENDPOINTS, IMAGE_TO_3D, IMG_TO_3D_V3, build_payload
from api.errors import (
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
    ServerError,
    SubmitUncertain,
    ValidationError,
)
from api.imaging import encode_png, sniff_file_kind
from api.settings import Settings
from emulator import Emulator

V6_SUBMIT = "/api/v6/3d/image_to_3d"
UPLOAD = "/api/v6/base64_to_url"


def subject_png() -> bytes:
    pixels = np.zeros((48, 64, 4), dtype=np.uint8)
    pixels[8:40, 16:48] = (200, 60, 40, 255)
    return encode_png(pixels)


def client_for(emulator: Emulator, key: str, **settings: float) -> Client:
    return Client(Settings(api_key=key, api_base=emulator.base_url, **settings))


def paths(emulator: Emulator, method: str = "POST") -> list[str]:
    return [request.path for request in emulator.requests if request.method == method]


def count(emulator: Emulator, path: str) -> int:
    return sum(request.path == path for request in emulator.requests)


def uploaded(emulator: Emulator) -> str:
    """The URL of an uploaded test image."""
    with client_for(emulator, "instant") as client:
        return client.upload(subject_png(), "image/png")


def submit_v6(client: Client, image_url: str, **values: object) -> Answer:
    return client.submit(IMAGE_TO_3D, build_payload(IMAGE_TO_3D, values, image_url))


def finished_outputs(emulator: Emulator, key: str, **values: object) -> list[list[str]]:
    """The mirror groups of a finished v6 job submitted with `key`; then the record is cleared.

    Download faults belong to the job, so they follow the key it was submitted with.
    """
    with client_for(emulator, key) as client:
        answer = submit_v6(client, uploaded(emulator), **values)
    groups = mirror_groups(answer.outputs, answer.proxy_links, answer.future_links)
    assert answer.status == "success"
    return groups


# --- upload -------------------------------------------------------------------------------


def test_upload_sends_a_data_url_and_returns_the_link(emulator: Emulator) -> None:
    with client_for(emulator, "instant") as client:
        url = client.upload(subject_png(), "image/png")
    assert url.startswith(f"{emulator.base_url}/temp/") and url.endswith(".png")
    [request] = emulator.requests
    assert request.path == UPLOAD
    assert request.json is not None
    assert request.json["key"] == "instant"
    assert request.json["base64_string"].startswith("data:image/png;base64,iVBOR")


def test_upload_refuses_oversize_and_odd_types_without_sending(emulator: Emulator) -> None:
    with client_for(emulator, "instant", max_upload_bytes=100) as client:
        with pytest.raises(ValidationError) as caught:
            client.upload(subject_png(), "image/png")
        assert "at most 100 bytes" in caught.value.message
        with pytest.raises(ValidationError):
            client.upload(b"GIF89a", "image/gif")
    assert emulator.requests == []


def test_upload_retries_server_errors(emulator: Emulator) -> None:
    with client_for(emulator, "http_503?at=upload&times=2") as client:
        assert client.upload(subject_png(), "image/png")
    assert count(emulator, UPLOAD) == 3


def test_upload_does_not_retry_a_bad_key(emulator: Emulator) -> None:
    with client_for(emulator, "invalid_key?at=upload") as client, pytest.raises(AuthError):
        client.upload(subject_png(), "image/png")
    assert count(emulator, UPLOAD) == 1


def test_missing_key_is_refused_before_sending(emulator: Emulator) -> None:
    with client_for(emulator, "  ") as client, pytest.raises(AuthError) as caught:
        client.upload(subject_png(), "image/png")
    assert "missing" in caught.value.message
    assert emulator.requests == []


# --- submit and fetch ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint_id", list(ENDPOINTS))
def test_submit_each_endpoint(emulator: Emulator, endpoint_id: str) -> None:
    endpoint = ENDPOINTS[endpoint_id]
    image_url = uploaded(emulator)
    values = {"prompt": "a red box"} if endpoint is DEPTH2IMG else {}
    with client_for(emulator, "instant") as client:
        answer = client.submit(endpoint, build_payload(endpoint, values, image_url))
    assert answer.status == "success"
    assert answer.remote_id.isdigit()
    assert len(answer.outputs) == 1 and answer.outputs[0].startswith(emulator.base_url)
    assert answer.proxy_links == (
        [] if endpoint is DEPTH2IMG else [answer.outputs[0].replace("/cdn/", "/proxy/")]
    )
    request = emulator.requests[-1]
    assert request.json is not None and request.json[endpoint.image_field] == image_url


def test_processing_then_fetch(emulator: Emulator) -> None:
    image_url = uploaded(emulator)
    with client_for(emulator, "processing?polls=1&eta=2.5") as client:
        answer = client.submit(IMG_TO_3D_V3, build_payload(IMG_TO_3D_V3, {}, image_url))
        assert answer.status == "processing"
        assert answer.eta == 2.5
        assert answer.outputs == []
        assert answer.fetch_url == f"{emulator.base_url}/api/v3/fetch/{answer.remote_id}"
        assert answer.future_links[0].endswith(".gif")
        assert answer.message == "Try to fetch request after seconds estimated"
        running = client.fetch(answer.fetch_url)
        assert (running.status, running.remote_id, running.message) == (
            "processing",
            "",
            "Request processing",
        )
        done = client.fetch(answer.fetch_url)
    assert done.status == "success"
    assert done.outputs and done.meta["output_type"] == "gif"


def test_fetch_retries_proxy_pages_and_junk(emulator: Emulator) -> None:
    image_url = uploaded(emulator)
    for key in ("html_502?at=fetch&times=2", "not_json?at=fetch&times=1"):
        with client_for(emulator, key) as client:
            answer = submit_v6(client, image_url)
            assert client.fetch(answer.fetch_url).status in ("processing", "success")
    fetches = [path for path in paths(emulator) if "/fetch/" in path]
    assert len(fetches) == 3 + 2


def test_fetch_sends_the_key_only_to_api_hosts() -> None:
    with Client(Settings(api_key="k")) as client, pytest.raises(ProtocolError):
        client.fetch("https://collector.example.net/api/v3/fetch/1")


@pytest.mark.parametrize(
    ("key", "error", "words"),
    [
        ("invalid_key", AuthError, "Edit > Preferences > Add-ons > ModelsLab 3D"),
        ("invalid_key_200", AuthError, "Invalid Api Key"),
        ("no_credits", CreditsError, "out of credits"),
        ("no_credits_200", CreditsError, "out of credits"),
        ("plan", PlanError, "plan does not include"),
        ("failed", GenerationFailed, "Failed, Try Again"),
        (
            "field_errors",
            RequestRejected,
            "prompt: The prompt field is required. image: The image must be a valid URL.",
        ),
        ("messege_error", RequestRejected, "Request failed, please try again later"),
        ("error_field", RequestRejected, "Something went wrong while processing the request"),
        ("rate_limited?retry_after=0", RateLimitError, "rate limiting"),
        ("http_503", ServerError, "not answering right now (HTTP 503)"),
        ("html_500", SubmitUncertain, "HTTP 500"),
        ("html_502", SubmitUncertain, "HTTP 502"),
        ("html_504", SubmitUncertain, "HTTP 504"),
        ("not_json", SubmitUncertain, "HTTP 200 with text/html instead of JSON"),
    ],
)
def test_submit_errors(
    emulator: Emulator, key: str, error: type[ModelsLabError], words: str
) -> None:
    image_url = uploaded(emulator)
    started = time.monotonic()
    with client_for(emulator, key) as client, pytest.raises(error) as caught:
        submit_v6(client, image_url)
    assert words in caught.value.message
    uncertain = error is SubmitUncertain
    assert caught.value.may_have_charged is uncertain
    retried = key.startswith(("rate_limited", "http_503"))
    assert count(emulator, V6_SUBMIT) == (4 if retried else 1)
    if uncertain:
        assert "not sent again" in caught.value.message
    assert time.monotonic() - started < 5


def test_submit_waits_retry_after_then_succeeds(emulator: Emulator) -> None:
    image_url = uploaded(emulator)
    started = time.monotonic()
    with client_for(emulator, "rate_limited?retry_after=1&times=1") as client:
        assert submit_v6(client, image_url).status == "success"
    assert time.monotonic() - started >= 1.0
    assert count(emulator, V6_SUBMIT) == 2


def test_submit_rate_limit_wait_is_cancellable(emulator: Emulator) -> None:
    """rate_limited_200 asks to wait 30 s (in its tips): honoured, and cut short by cancel."""
    image_url = uploaded(emulator)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with client_for(emulator, "rate_limited_200") as client, pytest.raises(Cancelled):
        client.submit(IMAGE_TO_3D, build_payload(IMAGE_TO_3D, {}, image_url), cancel=cancel)
    assert time.monotonic() - started < 1.3
    assert count(emulator, V6_SUBMIT) == 1


def test_submit_retries_a_503(emulator: Emulator) -> None:
    image_url = uploaded(emulator)
    with client_for(emulator, "http_503?times=1") as client:
        assert submit_v6(client, image_url).status == "success"
    assert count(emulator, V6_SUBMIT) == 2


def test_submit_without_an_answer_is_not_resent(emulator: Emulator) -> None:
    image_url = uploaded(emulator)
    client = client_for(emulator, "slow?seconds=2", read_timeout=0.3)
    with client, pytest.raises(SubmitUncertain) as caught:
        submit_v6(client, image_url)
    assert "did not answer within 0.3 s" in caught.value.message
    assert "dashboard" in caught.value.message
    assert count(emulator, V6_SUBMIT) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_is_a_network_error_never_charged() -> None:
    settings = Settings(api_key="instant", api_base=f"http://127.0.0.1:{closed_port()}")
    with Client(settings) as client, pytest.raises(NetworkError) as caught:
        client.submit(IMAGE_TO_3D, build_payload(IMAGE_TO_3D, {}, "https://example.com/a.png"))
    assert "could not connect to 127.0.0.1" in caught.value.message
    assert not caught.value.may_have_charged


def test_tls_failure_mentions_the_ca_bundle(emulator: Emulator) -> None:
    https_base = emulator.base_url.replace("http://", "https://")
    client = Client(Settings(api_key="instant", api_base=https_base))
    with client, pytest.raises(NetworkError) as caught:
        client.fetch(f"{https_base}/api/v3/fetch/1")
    assert "CA bundle" in caught.value.message
    assert not caught.value.may_have_charged


# --- download -----------------------------------------------------------------------------


def test_download_streams_to_a_named_file_with_progress(emulator: Emulator, tmp_path: Path) -> None:
    [urls] = finished_outputs(emulator, "instant", output_format="ply")
    seen: list[tuple[int, int | None]] = []
    with client_for(emulator, "instant") as client:
        path = client.download(
            urls, tmp_path, "mesh", {"ply"}, on_progress=lambda *a: seen.append(a)
        )
    assert path == tmp_path / "mesh.ply"
    data = path.read_bytes()
    assert sniff_file_kind(data[:512], len(data)) == "ply"
    assert seen[-1] == (len(data), len(data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.ply"]
    assert paths(emulator, "GET") == [urls[0].removeprefix(emulator.base_url)]


@pytest.mark.parametrize(
    ("key", "gets"),
    [
        ("download_drop?times=1", 2),
        ("download_truncated?times=1", 2),
        ("html_502?at=download&times=3", 4),
        ("proxy_only", 2),
    ],
)
def test_download_recovers(emulator: Emulator, tmp_path: Path, key: str, gets: int) -> None:
    [urls] = finished_outputs(emulator, key)
    with client_for(emulator, key) as client:
        path = client.download(urls, tmp_path, "mesh", {"glb"})
    data = path.read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[8:12], "little") == len(data)
    assert len(paths(emulator, "GET")) == gets
    if key == "proxy_only":
        assert paths(emulator, "GET")[-1].startswith("/proxy/")


def test_download_gives_up_after_bounded_retries(emulator: Emulator, tmp_path: Path) -> None:
    [urls] = finished_outputs(emulator, "download_drop")
    with client_for(emulator, "download_drop") as client, pytest.raises(DownloadError) as caught:
        client.download(urls, tmp_path, "mesh", {"glb"})
    assert "connection dropped" in caught.value.message
    assert caught.value.may_have_charged
    assert len(paths(emulator, "GET")) == 4 * 2
    assert list(tmp_path.iterdir()) == []


def test_download_refuses_the_wrong_kind(emulator: Emulator, tmp_path: Path) -> None:
    [urls] = finished_outputs(emulator, "instant")
    with client_for(emulator, "instant") as client, pytest.raises(DownloadError) as caught:
        client.download(urls[:1], tmp_path, "mesh", {"obj"})
    assert "is not a obj file" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_download_size_cap(emulator: Emulator, tmp_path: Path) -> None:
    [urls] = finished_outputs(emulator, "instant")
    client = client_for(emulator, "instant", max_download_bytes=1000)
    with client, pytest.raises(DownloadError) as caught:
        client.download(urls, tmp_path, "mesh", {"glb"})
    assert "larger than the 0.001 MB safety limit" in caught.value.message
    assert len(paths(emulator, "GET")) == 1
    assert list(tmp_path.iterdir()) == []


def test_download_of_a_slow_file_is_cancelled_at_once(emulator: Emulator, tmp_path: Path) -> None:
    [urls] = finished_outputs(emulator, "slow?at=download&seconds=5")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with client_for(emulator, "instant") as client, pytest.raises(Cancelled):
        client.download(urls, tmp_path, "mesh", {"glb"}, cancel=cancel)
    assert time.monotonic() - started < 1.0


def test_mirror_groups_match_by_name_then_position() -> None:
    outputs = ["https://a/x/1.glb", "https://a/x/2.glb"]
    proxies = ["https://p/2.glb", "https://p/1.glb"]
    futures = ["https://a/x/1.glb", "https://f/other.glb"]
    assert mirror_groups(outputs, proxies, futures) == [
        ["https://a/x/1.glb", "https://p/1.glb"],
        ["https://a/x/2.glb", "https://p/2.glb", "https://f/other.glb"],
    ]
    assert mirror_groups([], [], ["https://f/1.gif"]) == [["https://f/1.gif"]]
