"""Graph resources, one file each; every file exports ``routes`` (Starlette routes under /v1.0/)."""
