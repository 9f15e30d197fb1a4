"""Releases: what leaves the platform under a grant, and the record of what left."""
