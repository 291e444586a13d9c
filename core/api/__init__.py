"""Concord's REST API for the platform resources (projects, members, cases, volumes, jobs)."""
