"""Operators: Generate, and the actions on each job of the list."""

import bpy

from . import generate, jobs

classes = (*generate.classes, *jobs.classes)
register, unregister = bpy.utils.register_classes_factory(classes)
