"""Signals by which core tells the layers above it what happened, without importing them."""

from django.dispatch import Signal

# Sent inside the ingest transaction for each new case, with ``case`` and ``labels``:
# {rater_name: {"store_label": name, "checksum": sha256}} for label files imported beside the image.
# A receiver that raises rolls the whole ingest back.
case_ingested = Signal()
