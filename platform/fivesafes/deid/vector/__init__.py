"""The structured engine's vectorised path: whole columns through Arrow, not cell by cell.

Every function here has a per-cell twin elsewhere in :mod:`fivesafes.deid` that stays the
definition of what the platform does. A vectorised function either gives exactly what its
twin would (property tests compare them on generated input) or declines by returning
``None``, and the engine then runs the twin on that column. Declining is how the rare
cases (a malformed cell, a UK-style date, an encoding other than UTF-8) keep their exact
error messages and line numbers without the fast path having to reproduce them.
"""
