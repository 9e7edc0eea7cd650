"""The endpoint table and the payload builder: validation, defaults, null and omitted values."""

from __future__ import annotations

import pytest

from api.client import Client
from api.endpoints import (
    DEPTH2IMG,
    ENDPOINTS,
    ENTERPRISE_IMAGE_TO_3D,
    IMAGE_TO_3D,
    IMG_TO_3D_V3,
    MULTIVIEW,
    build_payload,
)
from api.errors import ValidationError
from api.settings import Settings

IMAGE = "https://example.com/input.png"


def test_endpoints_in_order_with_their_groups() -> None:
    assert list(ENDPOINTS) == [
        "IMAGE_TO_3D",
        "ENTERPRISE_IMAGE_TO_3D",
        "IMG_TO_3D_V3",
        "MULTIVIEW",
        "DEPTH2IMG",
    ]
    groups = [endpoint.group for endpoint in ENDPOINTS.values()]
    assert groups == [
        "image_to_3d",
        "enterprise_image_to_3d",
        "img_to_3d",
        "multiview",
        "depth2img",
    ]
    for endpoint_id, endpoint in ENDPOINTS.items():
        assert endpoint.id == endpoint_id
        assert endpoint.label and endpoint.description
        assert all(param.label and param.description for param in endpoint.params)


def test_every_default_passes_its_own_check() -> None:
    for endpoint in ENDPOINTS.values():
        for param in endpoint.params:
            if not param.required:
                assert param.check(param.default) == param.default


def test_v6_defaults() -> None:
    payload = build_payload(IMAGE_TO_3D, {}, IMAGE)
    assert payload == {
        "image": IMAGE,
        "output_format": "glb",
        "render": False,
        "resolution": 256,
        "multi_image": False,
        "ss_guidance_strength": 7.5,
        "ss_sampling_steps": 12,
        "slat_guidance_strength": 3.0,
        "slat_sampling_steps": 12,
        "mesh_simplify": 0.9,
        "chunk_size": 8192,
        "seed": 0,
        "temp": "no",
        "webhook": None,
        "track_id": None,
    }
    assert "key" not in payload
    assert IMAGE_TO_3D.mesh_up_axis == "Y"
    assert IMAGE_TO_3D.expected_kinds(payload) == {"glb"}
    assert IMAGE_TO_3D.expected_kinds({"output_format": "stl"}) == {"stl"}
    assert IMAGE_TO_3D.expected_kinds({"render": True}) == {"glb", "mp4"}


def test_enterprise_defaults_and_z_up() -> None:
    payload = build_payload(ENTERPRISE_IMAGE_TO_3D, {"remove_bg": True}, IMAGE)
    assert payload == {
        "init_image": IMAGE,
        "foreground_ratio": 0.85,
        "remove_bg": True,
        "resolution": 256,
        "chunk_size": 8192,
        "webhook": None,
        "track_id": None,
    }
    assert ENTERPRISE_IMAGE_TO_3D.mesh_up_axis == "Z"
    assert ENTERPRISE_IMAGE_TO_3D.expected_kinds(payload) == {"obj"}


def test_v3_seed_zero_is_sent_as_null() -> None:
    payload = build_payload(IMG_TO_3D_V3, {"steps": 64}, IMAGE)
    assert payload["seed"] is None
    assert payload["steps"] == 64
    assert payload["guidance_scale"] == 5.0
    assert build_payload(IMG_TO_3D_V3, {"seed": 20}, IMAGE)["seed"] == 20
    assert IMG_TO_3D_V3.output == "turntable"
    # A turntable GIF, or a mesh should the answer carry one instead.
    assert IMG_TO_3D_V3.expected_kinds(payload) == {"gif", "glb", "obj", "ply"}


def test_v6_seed_zero_is_sent_as_zero() -> None:
    assert build_payload(IMAGE_TO_3D, {"seed": 0}, IMAGE)["seed"] == 0


def test_webhook_and_track_id_pass_through() -> None:
    values = {"webhook": "https://example.com/hook", "track_id": "abc"}
    payload = build_payload(MULTIVIEW, values, IMAGE)
    assert payload["webhook"] == "https://example.com/hook"
    assert payload["track_id"] == "abc"
    assert payload["image"] == IMAGE
    assert (payload["width"], payload["height"]) == (640, 960)


def test_depth2img_omits_empty_negative_prompt() -> None:
    assert build_payload(DEPTH2IMG, {"prompt": "glasses"}, IMAGE) == {
        "init_image": IMAGE,
        "prompt": "glasses",
    }
    with_negative = build_payload(DEPTH2IMG, {"prompt": "glasses", "negative_prompt": "hat"}, IMAGE)
    assert with_negative["negative_prompt"] == "hat"


def test_whole_floats_are_accepted_as_ints() -> None:
    payload = build_payload(IMAGE_TO_3D, {"resolution": 128.0}, IMAGE)
    assert payload["resolution"] == 128
    assert isinstance(payload["resolution"], int)


@pytest.mark.parametrize(
    ("endpoint", "values", "field", "words"),
    [
        (IMAGE_TO_3D, {"resolution": 513}, "resolution", "from 1 to 512"),
        (IMAGE_TO_3D, {"resolution": 0}, "resolution", "from 1 to 512"),
        (IMAGE_TO_3D, {"mesh_simplify": 0.5}, "mesh_simplify", "from 0.9 to 0.98"),
        (IMAGE_TO_3D, {"ss_guidance_strength": -1.0}, "ss_guidance_strength", "at least 0"),
        (IMAGE_TO_3D, {"output_format": "fbx"}, "output_format", "one of obj, stl, ply, glb"),
        (IMAGE_TO_3D, {"render": "yes"}, "render", "true or false"),
        (IMAGE_TO_3D, {"seed": 1.5}, "seed", "a whole number"),
        (IMAGE_TO_3D, {"seed": -1}, "seed", "at least 0"),
        (IMAGE_TO_3D, {"chunk_size": 12001}, "chunk_size", "from 1 to 12000"),
        (IMAGE_TO_3D, {"slat_guidance_strength": float("nan")}, "slat_guidance_strength", "0"),
        (ENTERPRISE_IMAGE_TO_3D, {"foreground_ratio": 1.5}, "foreground_ratio", "from 0 to 1"),
        (IMG_TO_3D_V3, {"steps": 65}, "steps", "from 1 to 64"),
        (IMG_TO_3D_V3, {"guidance_scale": 0.5}, "guidance_scale", "from 1 to 20"),
        (MULTIVIEW, {"width": 2048}, "width", "from 64 to 1024"),
        (MULTIVIEW, {"temp": "maybe"}, "temp", "one of yes, no"),
        (DEPTH2IMG, {}, "prompt", "a non-empty text"),
        (DEPTH2IMG, {"prompt": "   "}, "prompt", "a non-empty text"),
    ],
)
def test_validation_names_field_value_and_range(
    endpoint: object, values: dict, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        build_payload(endpoint, values, IMAGE)
    error = caught.value
    assert error.field == field
    assert error.message.startswith(f"{field}: ")
    assert words in error.message
    if field in values:
        assert repr(values[field]) in error.message
    assert not error.may_have_charged


def test_unknown_setting_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        build_payload(IMAGE_TO_3D, {"key": "SECRET-VALUE"}, IMAGE)
    assert "key is not a setting of Image to 3D" in caught.value.message
    assert "SECRET-VALUE" not in caught.value.message


def test_invalid_values_send_nothing(emulator: object) -> None:
    """The validating step comes first: a refused value never reaches the server."""
    settings = Settings(api_key="instant", api_base=emulator.base_url)  # type: ignore[attr-defined]
    with Client(settings) as client, pytest.raises(ValidationError):
        client.submit(IMAGE_TO_3D, build_payload(IMAGE_TO_3D, {"resolution": 9999}, IMAGE))
    assert emulator.requests == []  # type: ignore[attr-defined]
