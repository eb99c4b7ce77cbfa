"""Name patterns shared by the core's values and the queue's model registry.

A module of its own so that a worker, which needs only the model-name check, does not
build the core's pydantic models to start (``forescale.core.model`` is ~0.15 s of a worker
start's ~1 s of imports).
"""

# Pools, policies' own names: DNS-label-like.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
# Model names are free text (``meta-llama/Llama-3.1-8B-Instruct``): 1-256 characters, no
# white space or control characters. Keys derived from them escape what would break a
# Redis hash tag (forescale/keys.py); URLs percent-encode the rest ("/" as %2F).
MODEL_NAME_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f]{1,256}$"
