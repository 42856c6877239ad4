#!/usr/bin/env bash
# Idempotent set-up of the project's virtual environment (.venv) with pinned dependencies.
# A torch already importable by python3 (say a CPU build) is reused instead of downloading
# the registry's CUDA build; everything else is pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium for the web page's browser test (tests/integration/test_web_browser.py).
# Only when missing, apt-get exists and we are root or have passwordless sudo; never fatal:
# without it that test skips and says why.
install_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "setup: no /usr/bin/chromium and not root (no passwordless sudo); the browser test will skip (install Debian's chromium to run it)" >&2
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "setup: no /usr/bin/chromium and no apt-get; the browser test will skip (install chromium to run it)" >&2
    return 0
  fi
  echo "setup: installing Debian's chromium for the browser test (apt-get)"
  if ! { "${sudo[@]}" apt-get install -y -q chromium >/dev/null ||
         { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q chromium >/dev/null; }; }; then
    echo "setup: apt-get could not install chromium; the browser test will skip" >&2
  fi
}
install_chromium

PYTHON=${PYTHON:-python3}
VENV=.venv
stamp_input="$(cat pyproject.toml constraints.txt)"
stamp="$VENV/.atlas-setup-$(printf '%s' "$stamp_input" | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  exit 0
fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "setup: $tool not found; install it (Java 17 and Maven run the managed Neo4j)" >&2; exit 1; }
done

venv_flags=()
constraints=constraints.txt
if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "setup: reusing the torch already installed for $PYTHON ($("$PYTHON" -c 'import torch; print(torch.__version__)'))"
  venv_flags=(--system-site-packages)
  constraints=$(mktemp)
  grep -v -E '^(torch|triton|nvidia-)' constraints.txt >"$constraints"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "${venv_flags[@]}" "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c "$constraints" -e '.[serve,search,test]'
rm -f "$VENV"/.atlas-setup-*
touch "$stamp"
echo "setup: environment ready in $VENV"
