"""Bring image results (multiview sheets, depth-to-image pictures, turntables) into Blender."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..api.endpoints import ENDPOINTS
from ..api.jobs import Job
from .importer import ImportFailed, file_kind

IMAGE_KINDS = {"png", "jpeg", "gif"}


def load_results(context: bpy.types.Context, job: Job) -> list[bpy.types.Image]:
    """Load the job's images into the file and show the first one in an open Image Editor."""
    endpoint = ENDPOINTS[job.endpoint]
    paths = [p for p in job.files if Path(p).is_file() and file_kind(p) in IMAGE_KINDS]
    if not paths:
        raise ImportFailed(
            f"Job {job.id} has no downloaded image. Use Retry Download to fetch it again."
        )
    images = []
    for index, path in enumerate(paths):
        image = bpy.data.images.load(path, check_existing=True)
        suffix = f"_{index + 1}" if len(paths) > 1 else ""
        image.name = f"{job.source_name}_{endpoint.group}{suffix}"
        if file_kind(path) == "gif":
            image.source = "MOVIE"
        images.append(image)
    show_in_image_editor(context, images[0])
    return images


def show_in_image_editor(context: bpy.types.Context, image: bpy.types.Image) -> bool:
    """Show the image in the first open Image Editor; False when none is open."""
    window_manager = context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                return True
    return False
