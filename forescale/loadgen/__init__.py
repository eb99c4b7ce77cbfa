"""Open-loop load generation against the router's Open Inference Protocol v2 endpoint."""

from forescale.loadgen.arrivals import arrival_offsets
from forescale.loadgen.runner import LoadGen, LoadReport, Outcome

__all__ = ["LoadGen", "LoadReport", "Outcome", "arrival_offsets"]
