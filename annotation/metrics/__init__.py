"""Agreement metrics, surface distances and consensus for multi-rater masks. Pure numpy/scipy, no Django."""
