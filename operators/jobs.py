"""Actions on one job of the list: import, retry, cancel, open its folder, remove it."""

from __future__ import annotations

import time
from pathlib import Path

import bpy

from ..api.errors import ModelsLabError
from ..api.jobs import Job, JobState
from ..blender import camera, importer, results, runtime
from .generate import wait_property


class _JobOperator:
    """One action on one job; a ModelsLabError becomes the operator's error report."""

    job_id: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Job", description="The local job id", options={"SKIP_SAVE"}
    )

    def job(self) -> Job:
        try:
            return runtime.get().jobs[self.job_id]
        except KeyError:
            raise ModelsLabError(f"No ModelsLab job with id '{self.job_id}'") from None

    def act(self, context: bpy.types.Context) -> None:
        raise NotImplementedError

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            self.act(context)
        except ModelsLabError as error:
            self.report({"ERROR"}, error.message)
            return {"CANCELLED"}
        return {"FINISHED"}


class MODELSLAB_OT_import_job(_JobOperator, bpy.types.Operator):
    """Bring the job's downloaded result into the scene (again)"""

    bl_idname = "modelslab.import_job"
    bl_label = "Import"
    bl_options = {"REGISTER", "UNDO"}

    def act(self, context: bpy.types.Context) -> None:
        job = self.job()
        try:
            if job.state != JobState.DONE:
                raise ModelsLabError(f"Job {job.id} has no finished download yet")
            with importer.rollback_on_error(context):
                results.import_result(context, job)
        except ModelsLabError as error:
            job.error = error.message  # shown on the job's row
            runtime.get().store.save(job)
            raise
        job.imported_at = time.time()
        job.error = ""
        runtime.get().store.save(job)


class MODELSLAB_OT_project_result(_JobOperator, bpy.types.Operator):
    """Project a depth-to-image result onto the selected meshes from the active camera"""

    bl_idname = "modelslab.project_result"
    bl_label = "Project"
    bl_options = {"REGISTER", "UNDO"}

    def act(self, context: bpy.types.Context) -> None:
        job = self.job()
        if job.endpoint != "DEPTH2IMG" or job.state != JobState.DONE:
            raise ModelsLabError(f"Job {job.id} is not a finished depth-to-image job")
        image = results.result_image(job)
        camera.project_from_camera(context, image, list(context.selected_objects))


class MODELSLAB_OT_resume_job(_JobOperator, bpy.types.Operator):
    """Poll and download again a job ModelsLab accepted; nothing is sent or charged again"""

    bl_idname = "modelslab.resume_job"
    bl_label = "Retry Download"
    bl_options = {"REGISTER"}

    wait: wait_property()  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.wait = False
        return self.execute(context)

    def act(self, context: bpy.types.Context) -> None:
        runtime.get().resume(self.job().id)
        if not self.wait:
            return
        job = runtime.get().wait(self.job_id)
        if job.state != JobState.DONE or job.imported_at is None:
            raise ModelsLabError(job.error or f"The job ended as {job.state.value}")


class MODELSLAB_OT_cancel_job(_JobOperator, bpy.types.Operator):
    """Stop waiting for this job. ModelsLab may still finish it: Retry Download gets it later"""

    bl_idname = "modelslab.cancel_job"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    def act(self, context: bpy.types.Context) -> None:
        runtime.get().cancel(self.job().id)


class MODELSLAB_OT_open_job_folder(_JobOperator, bpy.types.Operator):
    """Open the folder holding the job's record and downloads"""

    bl_idname = "modelslab.open_job_folder"
    bl_label = "Open Folder"
    bl_options = {"REGISTER"}

    def act(self, context: bpy.types.Context) -> None:
        bpy.ops.wm.path_open(filepath=str(runtime.get().store.folder_for(self.job())))


class MODELSLAB_OT_remove_job(_JobOperator, bpy.types.Operator):
    """Remove the job from the list and delete its folder (imported models and images stay)"""

    bl_idname = "modelslab.remove_job"
    bl_label = "Remove"
    bl_options = {"REGISTER"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return context.window_manager.invoke_confirm(self, event)

    def act(self, context: bpy.types.Context) -> None:
        job = self.job()
        _pack_images_from(runtime.get().store.folder_for(job))
        runtime.get().remove(job.id)


def _pack_images_from(folder: Path) -> None:
    """Images loaded from a job's folder go into the .blend before the folder is deleted."""
    for image in bpy.data.images:
        if image.packed_file is not None or not image.filepath:
            continue
        if folder not in Path(bpy.path.abspath(image.filepath)).resolve().parents:
            continue
        if image.source == "MOVIE":
            raise ModelsLabError(
                f"The movie '{image.name}' plays from this job's folder, and movies cannot be "
                "packed: remove that image first, or keep the job."
            )
        image.pack()


classes = (
    MODELSLAB_OT_import_job,
    MODELSLAB_OT_project_result,
    MODELSLAB_OT_resume_job,
    MODELSLAB_OT_cancel_job,
    MODELSLAB_OT_open_job_folder,
    MODELSLAB_OT_remove_job,
)
