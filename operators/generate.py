"""Starting jobs: Generate (image in, model or images out), and Multiview to 3D.

From the UI (`invoke`) they return at once and the job runs on worker threads. From a script or
`blender -b` (`execute`, with `wait` on) the same job runs to the end and is imported before
they return; a failure raises RuntimeError with the message and leaves the scene as it was.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import preferences
from ..api.endpoints import ENDPOINTS, Endpoint, build_payload
from ..api.errors import ModelsLabError
from ..api.jobs import Job, JobState
from ..api.settings import Settings
from ..blender import runtime
from ..blender.camera import render_camera_view
from ..blender.results import result_pixels
from ..blender.source_image import (
    SourceImageError,
    UploadSource,
    find_source_image,
    upload_source_for_image,
    upload_source_for_path,
)
from ..properties import endpoint_items, endpoint_values
from ..utils.multiview import key_out_background

NO_IMAGE = (
    "No image to send: choose one in the ModelsLab panel, select an object whose material has "
    "an Image Texture, open an image in the Image Editor, or pass image_path"
)


def start_job(
    context: bpy.types.Context,
    endpoint: Endpoint,
    source: UploadSource,
    overrides: dict[str, object] | None = None,
) -> Job:
    """Validate the scene's settings for the endpoint and queue the job; nothing is sent yet."""
    values = {**endpoint_values(context.scene, endpoint), **(overrides or {})}
    payload = build_payload(endpoint, values, source.url)
    job = Job(endpoint=endpoint.id, params=payload, source_name=source.name)
    job.image_url = source.url
    return runtime.get().submit(job, source)


def ensure_ready(context: bpy.types.Context) -> None:
    reason = runtime.readiness(context)
    if reason is not None:
        raise ModelsLabError(reason)


def wait_property() -> Any:
    """`wait`: scripts block until the job is imported; invoke() (the buttons) turns it off."""
    return bpy.props.BoolProperty(
        name="Wait",
        description="Run the job to the end and import, then return (scripts). Off: return "
        "at once and let the job run in the background, as the buttons do",
        default=True,
        options={"SKIP_SAVE"},
    )


class _StartsJob:
    """Runs `make_job`; waits for the job and its import when `wait` is on (scripts)."""

    wait: wait_property()  # type: ignore[valid-type]

    def make_job(self, context: bpy.types.Context) -> Job:
        raise NotImplementedError

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.wait = False
        return self.execute(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            job = self.make_job(context)
            if self.wait:
                job = runtime.get().wait(job.id)
        except ModelsLabError as error:
            self.report({"ERROR"}, error.message)
            return {"CANCELLED"}
        if not self.wait:
            message = f"Sent {job.source_name} to ModelsLab; follow it in the sidebar"
            self.report({"INFO"}, message)
            return {"FINISHED"}
        if job.state != JobState.DONE or job.imported_at is None:
            message = job.error or f"The job ended as {job.state.value}"
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        self.report({"INFO"}, f"ModelsLab job {job.id} done")
        return {"FINISHED"}


class MODELSLAB_OT_generate(_StartsJob, bpy.types.Operator):
    """Send the image to ModelsLab and bring the result into the scene"""

    bl_idname = "modelslab.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}

    endpoint: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Endpoint", items=endpoint_items()
    )
    image_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Image Path",
        description="An image file or URL to send instead of the panel's image",
        subtype="FILE_PATH",
    )

    def make_job(self, context: bpy.types.Context) -> Job:
        ensure_ready(context)
        endpoint = ENDPOINTS[self.endpoint]
        source = self._source(context, endpoint, preferences.api_settings(context))
        return start_job(context, endpoint, source)

    def _source(
        self, context: bpy.types.Context, endpoint: Endpoint, settings: Settings
    ) -> UploadSource:
        if self.image_path:
            return upload_source_for_path(self.image_path, settings)
        if endpoint.id == "DEPTH2IMG" and context.scene.modelslab.depth_source == "CAMERA":
            folder = runtime.get().store.folder / "camera_views"
            rendered = render_camera_view(context, settings.max_upload_side, folder)
            return upload_source_for_path(str(rendered), settings)
        image, _where = find_source_image(context)
        if image is None:
            raise SourceImageError(NO_IMAGE)
        return upload_source_for_image(image, settings)


class MODELSLAB_OT_multiview_to_3d(_StartsJob, bpy.types.Operator):
    """Send a multiview job's six views to Image to 3D as one multi-image, and import the model"""

    bl_idname = "modelslab.multiview_to_3d"
    bl_label = "To 3D"
    bl_options = {"REGISTER"}

    job_id: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Job", description="The finished multiview job", options={"SKIP_SAVE"}
    )

    def make_job(self, context: bpy.types.Context) -> Job:
        ensure_ready(context)
        views = runtime.get().jobs.get(self.job_id)
        if views is None or views.endpoint != "MULTIVIEW" or views.state != JobState.DONE:
            raise ModelsLabError(f"'{self.job_id}' is not a finished multiview job")
        sheet = result_pixels(views)
        source = UploadSource(views.source_name, pixels=key_out_background(sheet))
        return start_job(context, ENDPOINTS["IMAGE_TO_3D"], source, {"multi_image": True})


classes = (MODELSLAB_OT_generate, MODELSLAB_OT_multiview_to_3d)
