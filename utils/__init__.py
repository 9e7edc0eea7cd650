"""Pure helpers (no bpy), tested on their own."""
