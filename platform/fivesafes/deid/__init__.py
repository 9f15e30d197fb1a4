"""De-identification: the only package that imports Presidio and spaCy.

Structured transforms (pseudonyms, generalisation), free-text scrubbing (Presidio with UK
recognisers and patient-specific scrubbing) and the streaming, parallel engine that joins
them. Ingestion reuses :mod:`fivesafes.deid.engine`; nothing re-implements it.
"""
