"""HTTP entry point: the only package that knows FastAPI. Routes stay thin."""
