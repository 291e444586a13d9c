"""Celery app, queues, routing, beat schedule and thin tasks. Nothing imports this package."""

from workers.celery import app

__all__ = ["app"]
