"""``make demo``: the whole control plane, live, on one machine, then replayed in the simulator."""
