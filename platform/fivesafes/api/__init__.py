"""HTTP API entry point: JSON routes, thin. Shares its server with ``web/`` (a sibling,
never imported) through ``httpkit``; ``fivesafes.app`` mounts both."""
