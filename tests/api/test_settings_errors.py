"""Settings (environment, api_base, repr) and the shaping of error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.errors import (
    AuthError,
    NetworkError,
    SubmitUncertain,
    ValidationError,
    describe_body_error,
)
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "SECRET-MARKER-5f1d0c"


def test_from_env_reads_key_and_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSLAB_API_KEY", f" {SECRET} ")
    monkeypatch.setenv("MODELSLAB_API_BASE", "http://127.0.0.1:9")
    settings = Settings.from_env(read_timeout=5)
    assert settings.api_key == SECRET
    assert settings.api_base == "http://127.0.0.1:9"
    assert settings.read_timeout == 5


def test_from_env_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSLAB_API_KEY", "from-environment")
    monkeypatch.delenv("MODELSLAB_API_BASE", raising=False)
    settings = Settings.from_env(api_key="from-preferences")
    assert settings.api_key == "from-preferences"
    assert settings.api_base == ""


def test_repr_hides_the_key() -> None:
    settings = Settings(api_key=SECRET, proxy="http://proxy:3128")
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "proxy:3128" in repr(settings)


def test_resolve_replaces_scheme_host_and_port_only() -> None:
    settings = Settings(api_base="http://127.0.0.1:8123")
    assert (
        settings.resolve("https://modelslab.com/api/v6/3d/fetch/12")
        == "http://127.0.0.1:8123/api/v6/3d/fetch/12"
    )
    assert Settings().resolve("https://modelslab.com/x?y=1") == "https://modelslab.com/x?y=1"


def test_resolve_refuses_a_base_that_is_not_a_url() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(api_base="modelslab.com").resolve("https://modelslab.com/api")
    assert caught.value.field == "api_base"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "error", "message": "Invalid Api Key"}, "Invalid Api Key"),
        ({"status": "error", "messege": "Request processing"}, "Request processing"),
        ({"status": "error", "error": "Something broke"}, "Something broke"),
        (
            {"status": "error", "message": {"prompt": ["The prompt field is required."]}},
            "prompt: The prompt field is required.",
        ),
        (
            {"message": {"prompt": ["Required."], "image": ["Must be a URL", "Too big."]}},
            "prompt: Required. image: Must be a URL. Too big.",
        ),
        ({"message": "", "messege": "", "error": "third"}, "third"),
        ({"status": "error"}, ""),
    ],
)
def test_describe_body_error(body: dict, expected: str) -> None:
    assert describe_body_error(body) == expected


def test_messages_say_what_to_do() -> None:
    assert "Edit > Preferences > Add-ons > ModelsLab 3D" in AuthError().message
    assert "MODELSLAB_API_KEY" in AuthError("Invalid Api Key").message
    assert "CA bundle" in NetworkError("x", tls=True).message
    uncertain = SubmitUncertain("no answer")
    assert uncertain.may_have_charged
    assert "not sent again" in uncertain.message
    assert "dashboard" in uncertain.message


def test_api_never_imports_bpy() -> None:
    code = (
        "import sys; import api, api.client, api.endpoints, api.errors, api.imaging, "
        "api.jobs, api.settings; assert 'bpy' not in sys.modules, 'bpy imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
