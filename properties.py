"""Scene settings: one property group per endpoint, generated from the endpoint table.

Each field is named exactly as the API field and holds exactly the value sent, so scripts
can write `scene.modelslab.image_to_3d.output_format = 'obj'`.
"""

from __future__ import annotations

from typing import Any, cast

import bpy

from .api.endpoints import ENDPOINTS, Endpoint, Param
from .utils.multiview import DEFAULT_AZIMUTHS, DEFAULT_ELEVATIONS

_INT_LIMIT = 2**31 - 1


def _describe(param: Param) -> str:
    limits = []
    if param.minimum is not None:
        limits.append(f"min {param.minimum}")
    if param.maximum is not None:
        limits.append(f"max {param.maximum}")
    suffix = f" ({', '.join(limits)})" if limits else ""
    return f"{param.description}{suffix}. API field: {param.name}"


def _property_for(param: Param) -> Any:
    common: dict[str, Any] = {"name": param.label, "description": _describe(param)}
    if param.kind == "bool":
        return bpy.props.BoolProperty(default=bool(param.default), **common)
    if param.kind == "enum":
        items = [(choice, choice, "") for choice in param.choices]
        return bpy.props.EnumProperty(items=items, default=str(param.default), **common)
    if param.kind == "string":
        return bpy.props.StringProperty(default=str(param.default or ""), **common)
    bounds: dict[str, Any] = {}
    if param.kind == "int":
        bounds["min"] = int(param.minimum) if param.minimum is not None else -_INT_LIMIT
        bounds["max"] = int(param.maximum) if param.maximum is not None else _INT_LIMIT
        return bpy.props.IntProperty(default=cast(int, param.default), **bounds, **common)
    if param.minimum is not None:
        bounds["min"] = float(param.minimum)
    if param.maximum is not None:
        bounds["max"] = float(param.maximum)
    return bpy.props.FloatProperty(default=cast(float, param.default), **bounds, **common)


def _group_class(endpoint: Endpoint) -> type[bpy.types.PropertyGroup]:
    annotations = {param.name: _property_for(param) for param in endpoint.params}
    name = "MODELSLAB_PG_" + endpoint.group
    return type(name, (bpy.types.PropertyGroup,), {"__annotations__": annotations})


_group_classes = {endpoint.id: _group_class(endpoint) for endpoint in ENDPOINTS.values()}


def endpoint_values(scene: bpy.types.Scene, endpoint: Endpoint) -> dict[str, object]:
    """The values the scene holds for an endpoint, keyed by API field name."""
    group = getattr(scene.modelslab, endpoint.group)
    return {param.name: _as_sent(param, getattr(group, param.name)) for param in endpoint.params}


def _as_sent(param: Param, value: object) -> object:
    # Blender keeps floats in single precision: 0.9 reads back as 0.8999999761581421. Seven
    # significant digits is what single precision holds, so this gives back what was typed.
    if param.kind == "float":
        return float(f"{value:.7g}")
    return value


def endpoint_items() -> list[tuple[str, str, str]]:
    """The endpoint choices, for the panel's setting and the operators' `endpoint`."""
    return [(e.id, e.label, e.description) for e in ENDPOINTS.values()]


class MODELSLAB_PG_scene(bpy.types.PropertyGroup):
    endpoint: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Endpoint",
        description="What ModelsLab makes from the image",
        items=endpoint_items(),
    )
    image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Image",
        description="The image to send. Empty: the active material's image texture, else the "
        "image open in an Image Editor",
        type=bpy.types.Image,
    )
    depth_source: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Init Image",
        description="What Depth to Image restyles",
        items=[
            ("IMAGE", "Image", "The image chosen above (or the selected image texture)"),
            ("CAMERA", "Camera View", "A quick Workbench render of the active camera"),
        ],
    )
    rig_azimuths: bpy.props.FloatVectorProperty(  # type: ignore[valid-type]
        name="Azimuths",
        description="Camera azimuth of each multiview view, in degrees (0 = front, "
        "counter-clockwise seen from above)",
        size=6,
        default=DEFAULT_AZIMUTHS,
    )
    rig_elevations: bpy.props.FloatVectorProperty(  # type: ignore[valid-type]
        name="Elevations",
        description="Camera elevation of each multiview view, in degrees above the horizon",
        size=6,
        default=DEFAULT_ELEVATIONS,
    )
    rig_distance: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Distance",
        description="How far the reference images stand from the 3D cursor",
        default=1.5,
        min=0.01,
        unit="LENGTH",
    )
    rig_size: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Size",
        description="Display size of the reference images",
        default=1.0,
        min=0.01,
        unit="LENGTH",
    )


MODELSLAB_PG_scene.__annotations__.update(
    {
        endpoint.group: bpy.props.PointerProperty(type=_group_classes[endpoint.id])
        for endpoint in ENDPOINTS.values()
    }
)

classes = (*_group_classes.values(), MODELSLAB_PG_scene)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.modelslab = bpy.props.PointerProperty(type=MODELSLAB_PG_scene)


def unregister() -> None:
    del bpy.types.Scene.modelslab
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
