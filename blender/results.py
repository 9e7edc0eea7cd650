"""Image results where an artist uses them: multiview sheets become six views and a reference
rig, depth-to-image pictures open in the Image Editor, turntables load as movies.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from ..api.endpoints import ENDPOINTS
from ..api.jobs import Job
from ..utils import multiview
from .importer import MESH_KINDS, ImportFailed, file_kind, import_mesh, modelslab_collection
from .source_image import read_pixels

IMAGE_KINDS = {"png", "jpeg", "gif"}
VIEWS_FOLDER = "views"


def import_result(context: bpy.types.Context, job: Job) -> None:
    """Bring any finished job into the scene, by what its endpoint returns."""
    output = ENDPOINTS[job.endpoint].output
    kinds = {file_kind(path) for path in _existing(job.files)}
    if output == "mesh" or kinds & MESH_KINDS:
        import_mesh(context, job)
    elif output == "multiview":
        views = split_views(job)
        build_reference_rig(context, job, views)
    else:
        image = _load_image(job)
        if output == "turntable":
            image.source = "MOVIE"
        show_in_image_editor(context, image)


def _existing(paths: list[str]) -> list[str]:
    return [path for path in paths if Path(path).is_file()]


def _image_path(job: Job) -> str:
    paths = [p for p in _existing(job.files) if file_kind(p) in IMAGE_KINDS]
    if not paths:
        raise ImportFailed(
            f"Job {job.id} has no downloaded image. Use Retry Download to fetch it again."
        )
    return paths[0]


def _load_image(job: Job) -> bpy.types.Image:
    image = bpy.data.images.load(_image_path(job), check_existing=True)
    image.name = f"{job.source_name}_{ENDPOINTS[job.endpoint].group}"
    image["modelslab_job_id"] = job.id
    return image


def result_image(job: Job) -> bpy.types.Image:
    """The job's image as loaded by its import, else loaded now."""
    for image in bpy.data.images:
        if image.get("modelslab_job_id") == job.id and "modelslab_view" not in image:
            return image
    return _load_image(job)


def result_pixels(job: Job) -> np.ndarray:
    """The job's image as RGBA pixels (top row first), read without keeping it in the file."""
    image = bpy.data.images.load(_image_path(job), check_existing=False)
    try:
        pixels = read_pixels(image)
    finally:
        bpy.data.images.remove(image)
    if pixels.shape[2] == 3:
        pixels = np.concatenate([pixels, np.ones((*pixels.shape[:2], 1), np.float32)], axis=2)
    return pixels


def split_views(job: Job) -> list[bpy.types.Image]:
    """The sheet's six views as images of their own, saved beside the job's download."""
    folder = Path(job.files[0]).parent / VIEWS_FOLDER
    folder.mkdir(exist_ok=True)
    images = []
    for index, view in enumerate(multiview.split(result_pixels(job)), start=1):
        height, width = view.shape[:2]
        name = f"{job.source_name}_view_{index}"
        image = bpy.data.images.new(name, width, height, alpha=True)
        image.pixels.foreach_set(np.ascontiguousarray(view[::-1], dtype=np.float32).ravel())
        image.filepath_raw = str(folder / f"view_{index}.png")
        image.file_format = "PNG"
        image.save()
        image["modelslab_job_id"] = job.id
        image["modelslab_view"] = index
        images.append(image)
    return images


def build_reference_rig(
    context: bpy.types.Context, job: Job, views: list[bpy.types.Image]
) -> bpy.types.Collection:
    """Six image empties around the 3D cursor, one per view, each facing the centre.

    Each sits on the far side of the cursor from its view's camera, so looking from that
    camera angle the reference stands the right way round behind the model being built.
    """
    settings = context.scene.modelslab
    rig = bpy.data.collections.new(f"{job.source_name} views")
    modelslab_collection(context.scene).children.link(rig)
    centre = context.scene.cursor.location.copy()
    angles = zip(settings.rig_azimuths, settings.rig_elevations, strict=True)
    for index, (image, (azimuth, elevation)) in enumerate(zip(views, angles, strict=True)):
        towards_camera = Vector(multiview.view_direction(azimuth, elevation))
        empty = bpy.data.objects.new(f"{job.source_name}_view_{index + 1}", None)
        empty.empty_display_type = "IMAGE"
        empty.data = image  # type: ignore[assignment]  # image empties hold an Image
        empty.empty_display_size = settings.rig_size
        empty.empty_image_side = "FRONT"
        empty.location = centre - towards_camera * settings.rig_distance
        empty.rotation_euler = towards_camera.to_track_quat("Z", "Y").to_euler()
        empty["modelslab_job_id"] = job.id
        empty["modelslab_azimuth"] = azimuth
        empty["modelslab_elevation"] = elevation
        rig.objects.link(empty)
    return rig


def show_in_image_editor(context: bpy.types.Context, image: bpy.types.Image) -> bool:
    """Show the image in the first open Image Editor; False when none is open."""
    window_manager = context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                return True
    return False
