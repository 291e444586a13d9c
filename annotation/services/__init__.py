"""Annotation services: assignment, drafts, submission, consensus, imports, exports."""
