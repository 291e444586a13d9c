"""Platform services: the business logic every entry point (view, command, task) shares."""
