"""A real server over a small corpus in a temporary data folder, for the library tests."""
from __future__ import annotations

import shutil
import threading

from index.config import REPO_ROOT, Settings
from index.config import default_model_dir
from index.backends.local.store import build
from tests.conftest import start_server
from tests.sample_docs import OCEAN


def start_library_server(tmp, encoder, token: str, extra_env: dict | None = None) -> dict:
    """Seeds: one real seed and a made-up one (a quick build); returns settings, env, proc, url and restart()."""
    seeds = tmp / "seeds"
    seeds.mkdir()
    shutil.copy(REPO_ROOT / "seeds" / "004_add29a2c5c193579.txt", seeds)
    (seeds / "100_ocean.txt").write_text(OCEAN, encoding="utf-8")
    settings = Settings(seeds_dir=seeds, var_dir=tmp / "var")
    build(settings, encoder=encoder, progress=False)
    env = {"POLICYQA_VAR_DIR": str(settings.var_dir), "POLICYQA_SEEDS_DIR": str(seeds),
           "POLICYQA_MODEL_DIR": str(default_model_dir()), "POLICYQA_ADMIN_TOKEN": token, **(extra_env or {})}
    server = {"settings": settings, "env": env}

    def start():
        proc, url = start_server(env)
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain logs
        server.update(proc=proc, url=url)

    start()
    server["restart"] = start
    return server
