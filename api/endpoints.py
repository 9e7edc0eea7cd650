"""The ModelsLab endpoints, one declarative entry each, and the payload builder.

The Blender side builds its property groups and panels from these tables, so adding an endpoint
is one more `Endpoint` entry: nothing else needs to know its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import ValidationError

ParamKind = Literal["int", "float", "bool", "enum", "string"]
OutputShape = Literal["mesh", "image", "multiview", "turntable"]


class _Never:
    """Sentinel for `null_when` / `omit_when`: no value matches it."""

    def __repr__(self) -> str:
        return "NEVER"


NEVER: object = _Never()


@dataclass(frozen=True, kw_only=True)
class Param:
    """One request field: its type, default, range, and how the interface presents it."""

    name: str
    kind: ParamKind
    default: object
    label: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    advanced: bool = False
    required: bool = False
    null_when: object = NEVER  # this value is sent as JSON null (the API's "not set")
    omit_when: object = NEVER  # this value leaves the field out of the payload

    def allowed(self) -> str:
        """The accepted values, in words, for error messages and tooltips."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "string":
            return "a non-empty text" if self.required else "a text"
        number = "a whole number" if self.kind == "int" else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{number} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{number} of at least {self.minimum:g}"
        if self.maximum is not None:
            return f"{number} of at most {self.maximum:g}"
        return number

    def check(self, value: object) -> object:
        """The value in its JSON type, or ValidationError naming field, value and range."""
        refuse = ValidationError(self.name, value, self.allowed())
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise refuse
            return value
        if self.kind in ("enum", "string"):
            if not isinstance(value, str):
                raise refuse
            if self.kind == "enum" and value not in self.choices:
                raise refuse
            if self.required and not value.strip():
                raise refuse
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse
        if not math.isfinite(value):
            raise refuse
        number: int | float
        if self.kind == "int":
            if value != int(value):
                raise refuse
            number = int(value)
        else:
            number = float(value)
        if self.minimum is not None and number < self.minimum:
            raise refuse
        if self.maximum is not None and number > self.maximum:
            raise refuse
        return number


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One generator: where to send it, which field carries the image, what comes back."""

    id: str
    group: str
    label: str
    description: str
    url: str
    image_field: str
    fetch_url_template: str  # where its jobs are polled; the answer's fetch_result wins
    params: tuple[Param, ...]
    output: OutputShape
    mesh_up_axis: Literal["Y", "Z"] | None
    output_kinds: tuple[str, ...]  # file kinds (see imaging.sniff_file_kind) it may return
    output_kind_param: str = ""  # a parameter whose value names the output kind
    video_param: str = ""  # a bool parameter that, when true, adds an MP4 render to the outputs

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def expected_kinds(self, values: Mapping[str, object]) -> frozenset[str]:
        """The file kinds a download may have, for these parameter values."""
        kinds = set(self.output_kinds)
        if self.output_kind_param:
            chosen = values.get(self.output_kind_param)
            kinds = {str(chosen or self.param(self.output_kind_param).default)}
        if self.video_param and values.get(self.video_param):
            kinds.add("mp4")
        return frozenset(kinds)


def build_payload(endpoint: Endpoint, values: Mapping[str, object], image_url: str) -> dict:
    """The JSON body without the key: validated first, defaults filled, 'not set' values nulled.

    Raises ValidationError before anything is sent. The client adds the key when sending.
    """
    known = [param.name for param in endpoint.params]
    for name in values:
        if name not in known:
            allowed = ", ".join(known)
            raise ValidationError(
                name,
                None,
                allowed,
                f"{name} is not a setting of {endpoint.label}; its settings are {allowed}.",
            )
    payload: dict[str, object] = {endpoint.image_field: image_url}
    for param in endpoint.params:
        value = param.check(values.get(param.name, param.default))
        if value == param.omit_when:
            continue
        payload[param.name] = None if value == param.null_when else value
    return payload


def _webhook() -> Param:
    return Param(
        name="webhook",
        kind="string",
        default="",
        label="Webhook",
        description="URL that ModelsLab calls when the generation is complete (optional)",
        advanced=True,
        null_when="",
    )


def _track_id() -> Param:
    return Param(
        name="track_id",
        kind="string",
        default="",
        label="Track ID",
        description="ID sent back to the webhook to identify this request (optional)",
        advanced=True,
        null_when="",
    )


def _yes_no(name: str, label: str, description: str, *, advanced: bool = True) -> Param:
    return Param(
        name=name,
        kind="enum",
        default="no",
        choices=("yes", "no"),
        label=label,
        description=description,
        advanced=advanced,
    )


def _seed(*, null_when: object = NEVER) -> Param:
    return Param(
        name="seed",
        kind="int",
        default=0,
        minimum=0,
        label="Seed",
        description="Same seed and settings give the same result; 0 picks a random seed",
        null_when=null_when,
    )


_PROMPT_HELP = "Describe what you want in the result"
_NEGATIVE_HELP = "Describe what you do not want in the result"

IMAGE_TO_3D = Endpoint(
    id="IMAGE_TO_3D",
    group="image_to_3d",
    label="Image to 3D",
    description="Textured 3D model from one image (TRELLIS-like), as GLB, OBJ, PLY or STL",
    url="https://modelslab.com/api/v6/3d/image_to_3d",
    image_field="image",
    fetch_url_template="https://modelslab.com/api/v6/3d/fetch/{id}",
    output="mesh",
    mesh_up_axis="Y",
    output_kinds=("glb", "obj", "ply", "stl"),
    output_kind_param="output_format",
    video_param="render",
    params=(
        Param(
            name="output_format",
            kind="enum",
            default="glb",
            choices=("obj", "stl", "ply", "glb"),
            label="Format",
            description="File format of the model; GLB keeps textures and materials",
        ),
        Param(
            name="render",
            kind="bool",
            default=False,
            label="Render Video",
            description="Also render a NeRF video of the model",
            advanced=True,
        ),
        Param(
            name="resolution",
            kind="int",
            default=256,
            minimum=1,
            maximum=512,
            label="Resolution",
            description="Resolution of the generated model",
        ),
        Param(
            name="multi_image",
            kind="bool",
            default=False,
            label="Multi-View Image",
            description="The image is one transparent PNG holding several views of the subject",
            advanced=True,
        ),
        Param(
            name="ss_guidance_strength",
            kind="float",
            default=7.5,
            minimum=0,
            label="Structure Guidance",
            description="How closely the overall shape follows the image",
            advanced=True,
        ),
        Param(
            name="ss_sampling_steps",
            kind="int",
            default=12,
            minimum=1,
            maximum=50,
            label="Structure Steps",
            description="Sampling steps for the overall shape; more is slower",
            advanced=True,
        ),
        Param(
            name="slat_guidance_strength",
            kind="float",
            default=3.0,
            minimum=0,
            maximum=10,
            label="Detail Guidance",
            description="How closely surface details follow the image",
            advanced=True,
        ),
        Param(
            name="slat_sampling_steps",
            kind="int",
            default=12,
            minimum=1,
            maximum=50,
            label="Detail Steps",
            description="Sampling steps for surface details; more is slower",
            advanced=True,
        ),
        Param(
            name="mesh_simplify",
            kind="float",
            default=0.9,
            minimum=0.9,
            maximum=0.98,
            label="Simplify",
            description="How much the mesh is simplified; higher gives fewer faces",
        ),
        Param(
            name="chunk_size",
            kind="int",
            default=8192,
            minimum=1,
            maximum=12000,
            label="Chunk Size",
            description="Processing chunk size on the server (affects its memory use)",
            advanced=True,
        ),
        _seed(),
        _yes_no("temp", "Temporary Storage", "Keep the output files in temporary storage"),
        _webhook(),
        _track_id(),
    ),
)

ENTERPRISE_IMAGE_TO_3D = Endpoint(
    id="ENTERPRISE_IMAGE_TO_3D",
    group="enterprise_image_to_3d",
    label="Image to 3D (Enterprise)",
    description="Fast vertex-coloured OBJ from one image (TripoSR-like); enterprise plans",
    url="https://modelslab.com/api/v1/enterprise/3d/image_to_3d",
    image_field="init_image",
    fetch_url_template="https://modelslab.com/api/v1/enterprise/3d/fetch/{id}",
    output="mesh",
    mesh_up_axis="Z",
    output_kinds=("obj",),
    params=(
        Param(
            name="foreground_ratio",
            kind="float",
            default=0.85,
            minimum=0,
            maximum=1,
            label="Foreground Ratio",
            description="Share of the frame the subject fills when the background is kept",
            advanced=True,
        ),
        Param(
            name="remove_bg",
            kind="bool",
            default=False,
            label="Remove Background",
            description="Remove the image background before building the model",
        ),
        Param(
            name="resolution",
            kind="int",
            default=256,
            minimum=1,
            maximum=512,
            label="Resolution",
            description="Resolution of the generated model",
        ),
        Param(
            name="chunk_size",
            kind="int",
            default=8192,
            minimum=1,
            maximum=12000,
            label="Chunk Size",
            description="Processing chunk size on the server (affects its memory use)",
            advanced=True,
        ),
        _webhook(),
        _track_id(),
    ),
)

IMG_TO_3D_V3 = Endpoint(
    id="IMG_TO_3D_V3",
    group="img_to_3d",
    label="Image to 3D Turntable",
    description="Animated GIF turntable of a 3D object made from one image (Shap-E-like)",
    url="https://stablediffusionapi.com/api/v3/img_to_3d",
    image_field="image",
    fetch_url_template="https://stablediffusionapi.com/api/v3/fetch/{id}",
    output="turntable",
    mesh_up_axis="Y",  # should the answer carry a mesh instead of the GIF (Shap-E exports Y-up)
    output_kinds=("gif", "glb", "obj", "ply"),
    params=(
        Param(
            name="guidance_scale",
            kind="float",
            default=5.0,
            minimum=1,
            maximum=20,
            label="Guidance",
            description="How closely the result follows the image",
        ),
        Param(
            name="steps",
            kind="int",
            default=64,
            minimum=1,
            maximum=64,
            label="Steps",
            description="Denoising steps; more is slower",
            advanced=True,
        ),
        Param(
            name="frame_size",
            kind="int",
            default=128,
            minimum=1,
            label="Frame Size",
            description="Size of each turntable frame in pixels",
        ),
        Param(
            name="batch_size",
            kind="int",
            default=10,
            minimum=1,
            label="Batch Size",
            description="Images per prompt",
            advanced=True,
        ),
        _seed(null_when=0),
        Param(
            name="seconds",
            kind="int",
            default=4,
            minimum=1,
            label="Seconds",
            description="Length of the turntable animation",
        ),
        _yes_no("safety_checker", "Safety Checker", "Replace NSFW results with a blank image"),
        _webhook(),
        _track_id(),
    ),
)

MULTIVIEW = Endpoint(
    id="MULTIVIEW",
    group="multiview",
    label="Multiview",
    description="One PNG with six views of the object in the image (Zero123++-like)",
    url="https://stablediffusionapi.com/api/v5/multiview",
    image_field="image",
    fetch_url_template="https://stablediffusionapi.com/api/v3/fetch/{id}",
    output="multiview",
    mesh_up_axis=None,
    output_kinds=("png", "jpeg"),
    params=(
        Param(name="prompt", kind="string", default="", label="Prompt", description=_PROMPT_HELP),
        Param(
            name="negative_prompt",
            kind="string",
            default="",
            label="Negative Prompt",
            description=_NEGATIVE_HELP,
        ),
        Param(
            name="width",
            kind="int",
            default=640,
            minimum=64,
            maximum=1024,
            label="Width",
            description="Width of the generated sheet in pixels",
            advanced=True,
        ),
        Param(
            name="height",
            kind="int",
            default=960,
            minimum=64,
            maximum=1024,
            label="Height",
            description="Height of the generated sheet in pixels",
            advanced=True,
        ),
        _yes_no("temp", "Proxy Links", "Also serve the result from proxy links"),
        Param(
            name="num_inference_steps",
            kind="int",
            default=50,
            minimum=1,
            maximum=50,
            label="Steps",
            description="Denoising steps; more is slower",
            advanced=True,
        ),
        Param(
            name="guidance_scale",
            kind="float",
            default=4.0,
            minimum=1,
            maximum=20,
            label="Guidance",
            description="How closely the result follows the image",
            advanced=True,
        ),
        _seed(),
        _webhook(),
        _track_id(),
    ),
)

DEPTH2IMG = Endpoint(
    id="DEPTH2IMG",
    group="depth2img",
    label="Depth to Image",
    description="New image that keeps the depth (shapes and layout) of the input image",
    url="https://stablediffusionapi.com/api/v5/depth2img",
    image_field="init_image",
    fetch_url_template="https://stablediffusionapi.com/api/v3/fetch/{id}",
    output="image",
    mesh_up_axis=None,
    output_kinds=("png", "jpeg"),
    params=(
        Param(
            name="prompt",
            kind="string",
            default="",
            label="Prompt",
            description=_PROMPT_HELP,
            required=True,
        ),
        Param(
            name="negative_prompt",
            kind="string",
            default="",
            label="Negative Prompt",
            description=_NEGATIVE_HELP,
            omit_when="",
        ),
    ),
)

ENDPOINTS: dict[str, Endpoint] = {
    endpoint.id: endpoint
    for endpoint in (IMAGE_TO_3D, ENTERPRISE_IMAGE_TO_3D, IMG_TO_3D_V3, MULTIVIEW, DEPTH2IMG)
}
