"""Governed re-identification: a two-person, audited path from a project pseudonym back
to the patient's NHS number, for safety-critical findings and consent to contact only.

Off unless a dataset's policy allows it; see ``docs/reidentification.md``.
"""
