"""What the API and the web pages share: the HTTP server they are mounted on.

Both entry points are siblings: neither imports the other. What they both need lives
here once: the request's transaction and user (``deps``), access permits (``permits``),
path and query parameters (``params``), the error → status mapping (``errors``), the
session cookie and CSRF token (``cookies``, ``csrf``), and the middleware stack.
"""
