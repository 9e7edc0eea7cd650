"""The ModelsLab tab of the 3D View sidebar: source image, endpoint settings, Generate, jobs."""

from __future__ import annotations

import time

import bpy

from ..api.endpoints import ENDPOINTS, Endpoint
from ..api.jobs import Job, JobState
from ..blender import runtime
from ..blender.camera import NO_CAMERA
from ..blender.source_image import find_source_image
from ..utils.jobview import progress_fraction, status_line, wrap

MAX_JOBS_SHOWN = 12


class _SidebarPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ModelsLab"


def _current_endpoint(context: bpy.types.Context) -> Endpoint:
    return ENDPOINTS[context.scene.modelslab.endpoint]


def _draw_params(layout: bpy.types.UILayout, context: bpy.types.Context, advanced: bool) -> None:
    endpoint = _current_endpoint(context)
    group = getattr(context.scene.modelslab, endpoint.group)
    column = layout.column()
    for param in endpoint.params:
        if param.advanced == advanced:
            column.prop(group, param.name)


class MODELSLAB_PT_main(_SidebarPanel, bpy.types.Panel):
    bl_label = "ModelsLab 3D"
    bl_idname = "MODELSLAB_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.modelslab
        layout.prop(settings, "endpoint", text="")
        from_camera = settings.endpoint == "DEPTH2IMG" and settings.depth_source == "CAMERA"
        if settings.endpoint == "DEPTH2IMG":
            layout.prop(settings, "depth_source", expand=True)
        missing = _draw_camera(layout, context) if from_camera else _draw_source(layout, context)
        _draw_params(layout, context, advanced=False)

        reason = runtime.readiness(context) or missing or _missing_setting(context)
        row = layout.row()
        row.scale_y = 1.5
        row.enabled = reason is None
        operator = row.operator("modelslab.generate", icon="MESH_MONKEY")
        operator.endpoint = settings.endpoint
        if reason is not None:
            box = layout.box()
            for index, line in enumerate(wrap(reason)):
                box.label(text=line, icon="ERROR" if index == 0 else "BLANK1")


def _draw_source(layout: bpy.types.UILayout, context: bpy.types.Context) -> str | None:
    """The image Generate will send, with a thumbnail; the reason it can't, if none."""
    layout.template_ID(context.scene.modelslab, "image", open="image.open")
    image, where = find_source_image(context)
    if image is None:
        layout.label(text="No image: pick one, or select a textured object", icon="INFO")
        return "Choose an image to send"
    row = layout.row()
    row.template_icon(icon_value=layout.icon(image), scale=4.0)
    column = row.column()
    column.label(text=image.name, icon="IMAGE_DATA")
    column.label(text=where)
    column.label(text=f"{image.size[0]} x {image.size[1]} px")
    return None


def _missing_setting(context: bpy.types.Context) -> str | None:
    endpoint = _current_endpoint(context)
    group = getattr(context.scene.modelslab, endpoint.group)
    for param in endpoint.params:
        if param.required and not str(getattr(group, param.name)).strip():
            return f"{endpoint.label} needs a {param.label.lower()}: fill it in above"
    return None


def _draw_camera(layout: bpy.types.UILayout, context: bpy.types.Context) -> str | None:
    camera = context.scene.camera
    if camera is None:
        return NO_CAMERA
    layout.label(text=f"Renders the view of '{camera.name}'", icon="CAMERA_DATA")
    return None


class MODELSLAB_PT_advanced(_SidebarPanel, bpy.types.Panel):
    bl_label = "Advanced"
    bl_idname = "MODELSLAB_PT_advanced"
    bl_parent_id = "MODELSLAB_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        _draw_params(self.layout, context, advanced=True)


class MODELSLAB_PT_rig(_SidebarPanel, bpy.types.Panel):
    bl_label = "Reference Rig"
    bl_idname = "MODELSLAB_PT_rig"
    bl_parent_id = "MODELSLAB_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene.modelslab.endpoint == "MULTIVIEW"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.modelslab
        layout = self.layout
        layout.label(text="Views' camera angles (degrees)")
        row = layout.row()
        row.column().prop(settings, "rig_azimuths", text="")
        row.column().prop(settings, "rig_elevations", text="")
        layout.prop(settings, "rig_distance")
        layout.prop(settings, "rig_size")


class MODELSLAB_PT_jobs(_SidebarPanel, bpy.types.Panel):
    bl_label = "Jobs"
    bl_idname = "MODELSLAB_PT_jobs"
    bl_parent_id = "MODELSLAB_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        jobs = sorted(runtime.get().jobs.values(), key=lambda j: j.created_at, reverse=True)
        if not jobs:
            layout.label(text="No jobs yet")
            return
        now = time.time()
        for job in jobs[:MAX_JOBS_SHOWN]:
            _draw_job(layout.box(), job, now)


def _draw_job(box: bpy.types.UILayout, job: Job, now: float) -> None:
    running = runtime.get().is_running(job.id)
    header = box.row()
    header.label(text=f"{job.source_name} · {ENDPOINTS[job.endpoint].label}")
    box.progress(factor=progress_fraction(job, now), type="BAR", text=status_line(job, now))
    waiting_for = runtime.readiness() if runtime.get().is_waiting(job.id) else None
    if waiting_for is not None:
        for index, line in enumerate(wrap(f"Waiting: {waiting_for}")):
            box.label(text=line, icon="TIME" if index == 0 else "BLANK1")
    if job.error:
        column = box.column()
        column.alert = job.state == JobState.FAILED
        for index, line in enumerate(wrap(job.error)):
            column.label(text=line, icon="ERROR" if index == 0 else "BLANK1")
    row = box.row(align=True)
    if running:
        row.operator("modelslab.cancel_job", icon="CANCEL").job_id = job.id
    elif job.state == JobState.DONE:
        label = "Import" if job.imported_at is None else "Import Again"
        row.operator("modelslab.import_job", text=label, icon="IMPORT").job_id = job.id
        if job.endpoint == "MULTIVIEW":
            row.operator("modelslab.multiview_to_3d", icon="MESH_MONKEY").job_id = job.id
        elif job.endpoint == "DEPTH2IMG":
            row.operator("modelslab.project_result", icon="MOD_UVPROJECT").job_id = job.id
    elif job.remote_id or job.outputs:
        row.operator("modelslab.resume_job", icon="FILE_REFRESH").job_id = job.id
    row.operator("modelslab.open_job_folder", text="", icon="FILE_FOLDER").job_id = job.id
    if not running:
        row.operator("modelslab.remove_job", text="", icon="TRASH").job_id = job.id


classes = (MODELSLAB_PT_main, MODELSLAB_PT_advanced, MODELSLAB_PT_rig, MODELSLAB_PT_jobs)
