"""Files shipped inside installed packages, found through ``importlib.resources``.

Every run-time read of a shipped file (entity definitions, seed data, page templates and static files, the Moqui
component's templates) asks the package that holds it, so the same code works from a built wheel and from the source
tree; nothing walks up from ``__file__`` to a checkout. ``entity-defs/`` is installed as the package
``moqui_stripe_entity_defs`` (pyproject.toml maps the folder; docs/internals.md, "Packaging").
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["ResourceError", "package_path"]


class ResourceError(RuntimeError):
    """A shipped file or folder is missing, or its package is not installed as ordinary files."""


def package_path(package: str, *parts: str) -> Path:
    """The file-system path of ``parts`` inside the installed ``package`` (the package's folder with no parts).

    Callers get a real path because jinja2's loader, the entity loader and lxml read folders and files by path. pip
    always installs packages as files; a zip import (which would need extracting) is refused with a clear error.
    """
    try:
        root = files(package)
    except ModuleNotFoundError:
        # An editable install made before the package existed does not know it (entity-defs, the demo).
        raise ResourceError(
            f"package {package} is not installed; reinstall: "
            "pip install -e '.[test]' -e ./distributions/moqui-stripe-demo"
        ) from None
    if not isinstance(root, Path):
        raise ResourceError(f"package {package} is not installed as files ({root!r}); reinstall it with pip")
    path = root.joinpath(*parts)
    if not path.exists():
        raise ResourceError(f"{'/'.join(parts) or 'folder'} is missing from package {package} at {path}")
    return path
