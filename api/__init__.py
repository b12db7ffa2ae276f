"""The FastAPI application and the `wattdesk` command line: the composition root that mounts
the adapters, serves the staff API, health and the landing page."""
