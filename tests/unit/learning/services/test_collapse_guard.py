"""The collapse guard shared by the segmenter and PULASki: only a version with not one foreground
output where the labels have some is refused; a sparse but live one is left to the metric."""

from __future__ import annotations

from learning.services.training import collapse_reason


def test_no_foreground_output_is_a_collapse_and_the_reason_names_the_outputs():
    reason = collapse_reason(0.0, "every sample is empty")
    assert reason is not None and reason.startswith("collapsed:") and "every sample is empty" in reason


def test_sparse_outputs_and_nothing_to_check_are_not_refused():
    assert collapse_reason(1 / 800, "x") is None and collapse_reason(1.0, "x") is None
    assert collapse_reason(None, "x") is None  # no validation case with a label: nothing to judge
