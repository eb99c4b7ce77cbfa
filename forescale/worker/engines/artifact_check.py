"""Before an artifact is loaded: the file is the one registered, and it holds no pickle.

Loading a model file is loading code unless the format forbids it. ``torch.export.load``
unpickles (with ``weights_only=False``) every weight or constant whose archive entry is
flagged ``use_pickle``, and any "opaque object" constant: a crafted ``.pt2`` runs what it
likes. So before torch sees the file:

- the path, symlinks resolved, must lie inside the worker's model directory;
- its SHA-256 must equal the one pinned at registration (the file cannot be swapped
  after it was reviewed);
- an ``export`` archive must carry every weight and constant as raw tensor bytes: any
  ``use_pickle`` entry, opaque or custom-object constant, legacy pickled weight file or
  pre-2.8 archive is refused.

``torchscript`` archives are TorchScript programs by design (code plus tensors, read by
torch's restricted C++ unpickler); they are accepted only through the same directory and
digest pin, which is the operator's statement that the program is trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path


class UnsafeArtifact(ValueError):
    """The artifact is outside the model directory, not the pinned file, or holds pickle."""


def resolve(model_dir: str | Path, rel: str) -> Path:
    root = Path(model_dir).resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise UnsafeArtifact(f"model artifact {rel!r} resolves outside the model directory {root}")
    if not path.is_file():
        raise ValueError(f"model artifact {path} does not exist")
    return path


def check_digest(path: Path, sha256: str) -> None:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != sha256:
        raise UnsafeArtifact(f"model artifact {path} has sha256 {h.hexdigest()}, not the pinned {sha256}")


# Archive members torch.export.load reads, relative to the archive's root folder. Anything
# else (AOTInductor shared libraries, legacy pickled weights, unknown files) is refused.
_ALLOWED = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[^/]+\.json|data/(weights|constants)/[^/]+|data/sample_inputs/[^/]+\.pt|extra/[^/]+)$"
)


def check_export_archive(path: Path) -> None:
    """Refuse a ``.pt2`` whose loading would unpickle anything or load native code."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            root = names[0].split("/", 1)[0] + "/" if names else ""
            configs = 0
            for n in names:
                rel = n[len(root) :] if n.startswith(root) else n
                legacy = rel.startswith(("data/weights/", "data/constants/")) and rel.endswith(".pt")
                if not _ALLOWED.match(rel) or legacy:
                    raise UnsafeArtifact(f"{path}: unexpected archive member {n!r}; refusing to load it")
                if rel.endswith("_config.json"):
                    configs += 1
                    _check_payload_config(path, n, json.loads(z.read(n)))
                elif rel.startswith("data/sample_inputs/"):
                    _check_weights_only(path, n, z.read(n))
            if configs == 0:
                raise UnsafeArtifact(f"{path}: not a torch.export (>= 2.8) archive; re-save it")
    except (zipfile.BadZipFile, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UnsafeArtifact(f"{path}: not a readable torch.export archive ({exc})") from None


def _check_weights_only(path: Path, name: str, data: bytes) -> None:
    """torch.export falls back to a full unpickle when the weights-only load fails: fail first."""
    import torch

    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # any failure here would be retried as a full unpickle by torch
        raise UnsafeArtifact(f"{path}: {name} is not loadable weights-only ({type(exc).__name__})") from None


def _check_payload_config(path: Path, name: str, doc: dict[str, object]) -> None:
    entries = doc.get("config", {})
    if not isinstance(entries, dict):
        raise UnsafeArtifact(f"{path}: {name} has no config map")
    for fqn, meta in entries.items():
        if not isinstance(meta, dict):
            raise UnsafeArtifact(f"{path}: {name}: entry {fqn!r} is not an object")
        file = str(meta.get("path_name", ""))
        if meta.get("use_pickle") or file.startswith(("custom_obj", "opaque_obj")):
            raise UnsafeArtifact(
                f"{path}: {fqn!r} is stored as a pickled object; only raw tensors are loaded "
                "(re-export with plain tensor weights)"
            )
