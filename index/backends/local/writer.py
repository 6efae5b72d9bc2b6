"""Library changes on the local backend: a complete new build of seeds + library as it will be
(vectors of unchanged passages are reused from the current build) is made current, then
library.json is committed and the service loads the build. Until then queries are served from the
previous build, and the library is unchanged if the change fails."""
from __future__ import annotations

import logging

from index.backends.base import Serving, WriteJob
from index.config import Settings
from index.ingest.clean import CleanDocument
from index.ingest.library import Library, fingerprint

from .store import build, current_build, read_manifest

log = logging.getLogger("policyqa")
GC_GRACE_SECONDS = 600  # another worker may have stored an original whose job it has not queued yet


class LocalWriter:
    def __init__(self, settings: Settings, library: Library, serving: Serving):
        self.settings = settings
        self.library = library
        self.serving = serving

    def committed(self) -> list[dict]:
        """library.json: lined up with the current build (line_up), and committed once a build is current."""
        return self.library.entries()

    def line_up(self, keep: set[str] = frozenset()) -> None:
        """After a stop: the library is brought back in line with the build that is current (the
        build is what was really finished), and originals that nothing lists, no waiting job needs
        and no upload is still receiving (GC_GRACE_SECONDS) are removed."""
        try:
            manifest = read_manifest(current_build(self.settings))
        except Exception:  # no index yet: nothing to line up with
            return
        built = manifest.get("library")
        try:
            committed = self.library.entries()
        except ValueError:
            committed = None
        if isinstance(built, list) and (committed is None or fingerprint(built) != fingerprint(committed)):
            if all(self.library.blob_path(e["sha256"]).exists() for e in built):
                log.warning("library: lined up with the current index build %s", manifest.get("build_id"))
                self.library.commit(built)
        try:
            committed = {e["sha256"] for e in self.library.entries()}
            self.library.collect_garbage(committed | set(keep), older_than_s=GC_GRACE_SECONDS)
        except (OSError, ValueError) as err:
            log.warning("library: garbage collection skipped: %s", err)

    def apply(self, added: list[tuple[dict, CleanDocument]], deleted: list[str], job: WriteJob) -> None:
        """Build with the library as it will be; commit it only once that build is current."""
        entries = {e["source"]: e for e in self.library.entries()}
        for entry, _ in added:
            entries[entry["source"]] = entry
        for source in deleted:
            entries.pop(source, None)
        entries = list(entries.values())
        job.status("indexing", "indexing")
        build(self.settings, encoder=job.encoder, progress=False, library_entries=entries, on_progress=job.progress)
        self.library.commit(entries)
        job.status("loading", "loading the new index")
        self.serving.reload()
