"""Actuators: the only code that changes the world (STYLE.md #2). ``kubernetes`` drives a
cluster through kubernetes-asyncio; ``local`` runs worker processes on this machine."""
