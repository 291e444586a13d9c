"""The PULASki collapse guard: only a version with not one foreground sample where raters outlined
is refused; a sparse but live one is left to the GED comparison."""

from __future__ import annotations

from learning.services.pulaski import collapse_reason


def test_no_foreground_sample_is_a_collapse():
    assert "collapsed" in collapse_reason(0.0)


def test_sparse_samples_and_no_validation_slices_are_not_refused():
    assert collapse_reason(1 / 800) is None and collapse_reason(1.0) is None
    assert collapse_reason(None) is None  # nothing validated: the GED is None and nothing is promoted anyway
