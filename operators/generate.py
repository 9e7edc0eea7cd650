"""The Generate operator: image in, model (or images) out.

From the UI (`invoke`) it returns at once and the job runs on worker threads. From a script or
`blender -b` (`execute`) the same job runs to the end and is imported before it returns; a
failure raises RuntimeError with the message and leaves the scene as it was.
"""

from __future__ import annotations

import bpy

from .. import preferences
from ..api.endpoints import ENDPOINTS, build_payload
from ..api.errors import ModelsLabError
from ..api.jobs import Job, JobState
from ..api.settings import Settings
from ..blender import runtime
from ..blender.source_image import (
    SourceImageError,
    UploadSource,
    find_source_image,
    upload_source_for_image,
    upload_source_for_path,
)
from ..properties import endpoint_values

NO_IMAGE = (
    "No image to send: choose one in the ModelsLab panel, select an object whose material has "
    "an Image Texture, open an image in the Image Editor, or pass image_path"
)


def endpoint_items() -> list[tuple[str, str, str]]:
    return [(e.id, e.label, e.description) for e in ENDPOINTS.values()]


class MODELSLAB_OT_generate(bpy.types.Operator):
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

    wait: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Wait",
        description="Run the whole job, import, then return (scripts). Off: queue the job and "
        "return at once, as the Generate button does",
        default=True,
        options={"SKIP_SAVE"},
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.wait = False
        return self.execute(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            job = self._start(context)
            if self.wait:
                job = runtime.get().wait(job.id)
        except ModelsLabError as error:
            self.report({"ERROR"}, error.message)
            return {"CANCELLED"}
        if not self.wait:
            self.report({"INFO"}, f"Sent {job.source_name} to ModelsLab; follow it in the sidebar")
            return {"FINISHED"}
        if job.state != JobState.DONE or job.imported_at is None:
            self.report({"ERROR"}, job.error or f"The job ended as {job.state.value}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"ModelsLab job {job.id} done: {', '.join(job.files)}")
        return {"FINISHED"}

    def _start(self, context: bpy.types.Context) -> Job:
        """Check everything, then queue the job; raises ModelsLabError before sending anything."""
        reason = runtime.readiness(context)
        if reason is not None:
            raise ModelsLabError(reason)
        endpoint = ENDPOINTS[self.endpoint]
        settings = preferences.api_settings(context)
        source = self._source(context, settings)
        payload = build_payload(endpoint, endpoint_values(context.scene, endpoint), source.url)
        job = Job(endpoint=endpoint.id, params=payload, source_name=source.name)
        job.image_url = source.url
        return runtime.get().submit(job, source)

    def _source(self, context: bpy.types.Context, settings: Settings) -> UploadSource:
        if self.image_path:
            return upload_source_for_path(self.image_path, settings)
        image, _where = find_source_image(context)
        if image is None:
            raise SourceImageError(NO_IMAGE)
        return upload_source_for_image(image, settings)


classes = (MODELSLAB_OT_generate,)
