"""Request validation for the five generation endpoints, as their doc pages state the ranges.

Messages follow the Laravel wording the real API uses for its `{"field": ["reason"]}` errors.
Fields not listed are ignored, as the real API ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int", "number", "bool", "str", "choice"]


@dataclass(frozen=True)
class Field:
    kind: Kind
    default: Any = None
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False


def _int(default: Any, low: float | None = None, high: float | None = None, **kw: Any) -> Field:
    return Field("int", default, low, high, **kw)


def _num(default: Any, low: float | None = None, high: float | None = None) -> Field:
    return Field("number", default, low, high)


_YES_NO = Field("choice", "no", choices=("yes", "no"))
_PASS_THROUGH = {
    "webhook": Field("str", None, nullable=True),
    "track_id": Field("str", None, nullable=True),
}

FIELDS: dict[str, dict[str, Field]] = {
    "v6": {
        "output_format": Field("choice", "glb", choices=("obj", "stl", "ply", "glb")),
        "render": Field("bool", False),
        "resolution": _int(256, 1, 512),
        "multi_image": Field("bool", False),
        "ss_guidance_strength": _num(7.5, 0),
        "ss_sampling_steps": _int(12, 1, 50),
        "slat_guidance_strength": _num(3, 0, 10),
        "slat_sampling_steps": _int(12, 1, 50),
        "mesh_simplify": _num(0.9, 0.9, 0.98),
        "chunk_size": _int(8192, 1, 12000),
        "seed": _int(0, 0, nullable=True),
        "temp": _YES_NO,
        **_PASS_THROUGH,
    },
    "enterprise": {
        "foreground_ratio": _num(0.85, 0, 1),
        "remove_bg": Field("bool", False),
        "resolution": _int(256, 1, 512),
        "chunk_size": _int(8192, 1, 12000),
        **_PASS_THROUGH,
    },
    "v3": {
        "guidance_scale": _num(15, 1, 20),
        # The page's table says steps max 50, but its own example and response use 64.
        "steps": _int(64, 1, 64),
        "frame_size": _int(256, 1),
        "batch_size": _int(1, 1),
        "seed": _int(None, nullable=True),
        "seconds": _int(3, 1),
        "safety_checker": _YES_NO,
        **_PASS_THROUGH,
    },
    "multiview": {
        "prompt": Field("str", ""),
        "negative_prompt": Field("str", ""),
        "width": _int(640, 64, 1024),
        "height": _int(960, 64, 1024),
        "temp": _YES_NO,
        "num_inference_steps": _int(50, 1, 50),
        "guidance_scale": _num(4, 1, 20),
        "seed": _int(None, nullable=True),
        **_PASS_THROUGH,
    },
    "depth2img": {
        "prompt": Field("str", required=True),
        "negative_prompt": Field("str", ""),
    },
}


def _label(name: str) -> str:
    return name.replace("_", " ")


def _bound(value: float) -> str:
    return f"{value:g}"


def check(name: str, spec: Field, value: Any) -> str | None:
    """Why `value` is not acceptable for the field, or None when it is."""
    label = _label(name)
    if value is None:
        if spec.required:
            return f"The {label} field is required."
        return None if spec.nullable else f"The {label} field must not be null."
    if spec.kind == "bool":
        return None if isinstance(value, bool) else f"The {label} field must be true or false."
    if spec.kind == "str":
        if not isinstance(value, str):
            return f"The {label} field must be a string."
        return f"The {label} field is required." if spec.required and not value.strip() else None
    if spec.kind == "choice":
        return None if value in spec.choices else f"The selected {label} is invalid."
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"The {label} field must be a number."
    if spec.kind == "int" and not isinstance(value, int):
        return f"The {label} field must be an integer."
    if spec.low is not None and value < spec.low:
        return f"The {label} field must be at least {_bound(spec.low)}."
    if spec.high is not None and value > spec.high:
        return f"The {label} field must not be greater than {_bound(spec.high)}."
    return None


def validate(endpoint: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The endpoint's parameters with defaults filled in, and the errors per field."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, spec in FIELDS[endpoint].items():
        if name not in body:
            if spec.required:
                errors[name] = [f"The {_label(name)} field is required."]
            values[name] = spec.default
            continue
        reason = check(name, spec, body[name])
        if reason:
            errors[name] = [reason]
        values[name] = body[name]
    return values, errors
