"""Reading request and rate traces (CSV/JSONL, gzip) for the simulator and the backtest."""

from forescale.traces.args import add_trace_arguments, trace_from_args
from forescale.traces.reader import TraceError, load_trace
from forescale.traces.trace import RateSeries, Trace

__all__ = ["RateSeries", "Trace", "TraceError", "add_trace_arguments", "load_trace", "trace_from_args"]
