"""The shape issue 17 gave the code: small modules in index/, and no code outside index/backends/
that branches on a backend's name (the layers and cycles are lint-imports' job, in make test)."""
from __future__ import annotations

import re

from index.config import REPO_ROOT


def test_no_module_in_index_is_over_600_lines():
    long = {str(p.relative_to(REPO_ROOT)): n for p in (REPO_ROOT / "index").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert long == {}


def test_no_backend_is_named_outside_index_backends():
    branch = re.compile(r"""(==|!=|\bin\b)\s*["'](local|milvus)["']|["'](local|milvus)["']\s*(==|!=)""")
    found = []
    for folder in ("index", "service", "eval"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if (REPO_ROOT / "index" / "backends") in path.parents:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if branch.search(line):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
    assert found == []
