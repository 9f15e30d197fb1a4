"""Factories shared by the test worlds: people, datasets with policies, extracts,
ingested versions, projects and grants.

Worlds (a folder's ``conftest.py``, the route matrix's ``route_world.py``) are built from
these, so no test folder imports another folder's ``conftest``: a fixture changed for
one folder's tests cannot silently change what another folder's tests stand on.
"""
