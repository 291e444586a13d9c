"""Registry tables (model versions, scores, audits) — filled by the learning issues."""
