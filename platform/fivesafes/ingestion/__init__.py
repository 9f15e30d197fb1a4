"""Ingestion: extracts in, through the de-identification engine, into immutable versions."""
