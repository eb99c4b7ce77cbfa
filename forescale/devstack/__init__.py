"""Real services as child processes, for `make demo`, the local provider and the tests.

Tests start real redis-server and prometheus through these (DESIGN.md: no fakes of the
services); the demo uses the same code, so what the tests exercise is what users run.
"""
