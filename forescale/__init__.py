"""forescale: an autoscaling control plane for GPU model serving."""

__version__ = "0.1.0"
