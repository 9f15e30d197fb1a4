"""Server-rendered web pages for uploaders, researchers and governance officers.

An entry point like ``api/`` and ``cli/``: it knows Jinja2 and HTTP, and calls the same
services (and view builders) the API calls; no business rule lives here.
"""
