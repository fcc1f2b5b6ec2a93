"""Print the third-party requirements of agnews projects, one a line, for an image's dependency layer.

    python3 requirements.py packages/agnews_core[http] services/gateway > requirements.txt

Reads `[project] dependencies` (plus the named extras) of each project's pyproject.toml and leaves out the
agnews-* packages themselves: the images install these requirements in a layer of their own, keyed only on
the pyproject files, so a code change rebuilds the small layer that installs the agnews code and not torch.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def requirements(specs: list[str]) -> list[str]:
    """Requirement strings of every `path[extra,...]` in `specs`, in order, each once."""
    out: list[str] = []
    for spec in specs:
        path, _, tail = spec.partition("[")
        extras = [e.strip() for e in tail.rstrip("]").split(",") if e.strip()]
        project = tomllib.loads(Path(path, "pyproject.toml").read_text())["project"]
        optional = project.get("optional-dependencies", {})
        for req in [*project.get("dependencies", []), *(r for e in extras for r in optional[e])]:
            name = re.match(r"[A-Za-z0-9_.-]+", req)
            if name is None or name.group(0).lower().replace("_", "-").startswith("agnews-"):
                continue
            if req not in out:
                out.append(req)
    return out


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
