"""Reading request and rate traces (CSV/JSONL, gzip) for the simulator and the backtest."""
