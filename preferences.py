"""Add-on preferences: the API key and network settings.

They live in Blender's user preferences, never in a .blend file, so sharing a scene never
shares the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from .api.settings import Settings

KEY_HINT = "Edit > Preferences > Add-ons > ModelsLab 3D, or the MODELSLAB_API_KEY variable"


def _reload_jobs(_self: bpy.types.AddonPreferences, _context: bpy.types.Context) -> None:
    from .blender import runtime

    runtime.reload_jobs()


class ModelsLabPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    api_key: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="API Key",
        description="Your ModelsLab API key. Kept in the user preferences, never in .blend files. "
        "When empty, the MODELSLAB_API_KEY environment variable is used",
        subtype="PASSWORD",
    )
    api_base: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="API Host",
        description="Replaces scheme, host and port of every ModelsLab URL (for a proxy or a "
        "local emulator). When empty, MODELSLAB_API_BASE is used, else the real hosts",
    )
    download_folder: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Download Folder",
        description="Where job records and downloaded models are kept. Empty: the extension's "
        "own user folder",
        subtype="DIR_PATH",
        update=_reload_jobs,
    )
    parallel_jobs: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Parallel Jobs",
        description="Jobs sent at once; more wait in the queue. ModelsLab accounts queue 5 to 15 "
        "requests depending on the plan",
        default=2,
        min=1,
        max=15,
    )
    connect_timeout: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Connect Timeout",
        description="Seconds to wait for a connection to ModelsLab",
        default=10.0,
        min=1.0,
        max=120.0,
        unit="TIME_ABSOLUTE",
    )
    read_timeout: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Answer Timeout",
        description="Seconds to wait for an answer to one request",
        default=60.0,
        min=5.0,
        max=600.0,
        unit="TIME_ABSOLUTE",
    )
    download_timeout: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Transfer Timeout",
        description="Seconds a download may stall before it is retried; raise it on slow links",
        default=120.0,
        min=5.0,
        max=3600.0,
        unit="TIME_ABSOLUTE",
    )
    max_upload_side: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Upload Size",
        description="Longest side, in pixels, of an image sent to ModelsLab. The 3D models work "
        "at about 512 px, so larger textures are scaled down before upload",
        default=1024,
        min=256,
        max=4096,
        subtype="PIXEL",
    )
    ca_bundle: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="CA Bundle",
        description="A PEM file of certificate authorities, for networks whose proxy re-signs "
        "HTTPS (fixes CERTIFICATE_VERIFY_FAILED). Empty: Blender's bundled certificates",
        subtype="FILE_PATH",
    )
    proxy: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Proxy",
        description="HTTP(S) proxy URL, e.g. http://proxy.example:8080. Empty: the HTTPS_PROXY "
        "environment variable, if any",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "api_key")
        if not self.api_key:
            if os.environ.get("MODELSLAB_API_KEY"):
                layout.label(text="Using MODELSLAB_API_KEY from the environment", icon="INFO")
            else:
                layout.label(text="Get a key at modelslab.com > Dashboard > API Keys", icon="INFO")
        layout.label(text="The key is stored in the user preferences, never in .blend files")
        layout.prop(self, "download_folder")
        layout.prop(self, "parallel_jobs")
        column = layout.column(heading="Network")
        column.prop(self, "api_base")
        column.prop(self, "connect_timeout")
        column.prop(self, "read_timeout")
        column.prop(self, "download_timeout")
        column.prop(self, "max_upload_side")
        column.prop(self, "ca_bundle")
        column.prop(self, "proxy")


def get(context: bpy.types.Context | None = None) -> ModelsLabPreferences:
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def api_settings(context: bpy.types.Context | None = None) -> Settings:
    """The client settings, with the environment filling what the preferences leave empty."""
    prefs = get(context)
    return Settings.from_env(
        api_key=prefs.api_key.strip(),
        api_base=prefs.api_base.strip(),
        connect_timeout=prefs.connect_timeout,
        read_timeout=prefs.read_timeout,
        download_timeout=prefs.download_timeout,
        max_upload_side=prefs.max_upload_side,
        ca_bundle=bpy.path.abspath(prefs.ca_bundle) if prefs.ca_bundle else "",
        proxy=prefs.proxy.strip(),
    )


def jobs_folder(context: bpy.types.Context | None = None) -> Path:
    prefs = get(context)
    if prefs.download_folder:
        return Path(bpy.path.abspath(prefs.download_folder))
    return Path(bpy.utils.extension_path_user(__package__, path="jobs", create=True))


classes = (ModelsLabPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
