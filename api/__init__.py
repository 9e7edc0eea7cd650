"""The ModelsLab API client: pure Python (requests and numpy), never imports bpy.

Modules: `endpoints` (what each generator takes), `client` (HTTP), `jobs` (saved jobs and the
worker loop), `imaging` (PNG encoding and file sniffing), `settings`, `errors`.
"""
