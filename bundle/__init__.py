"""The offline bundle for machines with no network (`make bundle`, README "Offline install (intranet)").

`bundle.make` stages and packs dist/policyqa-offline.tar.gz; `install.sh` and `run.sh` beside it are copied
to the top of the archive. `eval.bench_offline` (`make bundle-check`) proves it in a network namespace."""
from .make import (ARCHIVE, BundleError, bundle_env, closure, lock_lines, min_glibc, model_files,
                   runtime_requirements)

__all__ = ["ARCHIVE", "BundleError", "bundle_env", "closure", "lock_lines", "min_glibc", "model_files",
           "runtime_requirements"]
