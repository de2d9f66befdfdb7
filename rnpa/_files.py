"""Files (ground floor: imports nothing of rnpa): atomic writers, the package's asset paths.

Writing goes through a temporary file and a rename, so a failure never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Text is written as UTF-8 with ``\\n`` line ends; the file gets mode 0o644.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if isinstance(data, str):
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(data)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def asset_path(name: str) -> Path:
    """Path of a file shipped in ``rnpa/assets`` (raises if it is missing)."""
    path = Path(str(resources.files("rnpa") / "assets" / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} is not in the installed rnpa package ({path}); reinstall rnpa "
            "(pip install -e . from the repository root)"
        )
    return path
