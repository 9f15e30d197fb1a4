"""Safe data at rest: datasets, their policy versions, immutable dataset versions, uploads
and the National Data Opt-out list."""
