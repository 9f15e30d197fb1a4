"""Five Safes RO-Crate release and project packages (SATRE 3.3.09; docs/crates.md)."""
