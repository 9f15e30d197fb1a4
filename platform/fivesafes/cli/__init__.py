"""Command-line entry point: the only package that knows Typer. Commands stay thin."""
