"""Metrics. Each is one module and one entry point in ``codec_conformance.metrics``; its
declaration (``info``, see :mod:`codec_conformance.catalogue`) sits beside its code."""
from __future__ import annotations

from ..registry import load_metric_class
from .base import Metric, MetricResult, Undefined  # noqa: F401


def build_metric(name: str, settings=None, device: str = "cpu"):
    """Instantiate a registered metric with the run's evaluator options, on ``device``."""

    cls = load_metric_class(name)
    build = getattr(cls, "from_settings", None)
    return build(settings, device) if build is not None else cls()
