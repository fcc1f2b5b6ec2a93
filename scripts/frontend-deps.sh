#!/usr/bin/env bash
# Install what the newsroom page and its browser tests need, only where missing:
# Debian nginx, chromium and fonts-dejavu-core (apt), and playwright for Python (PyPI) in the venv.
# Never runs `playwright install`: the tests drive Debian's /usr/bin/chromium.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"

packages=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || packages+=(nginx)
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
[[ -d /usr/share/fonts/truetype/dejavu ]] || packages+=(fonts-dejavu-core)

"$here/scripts/apt-install.sh" ${packages[@]+"${packages[@]}"}

if ! "$python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "installing playwright from PyPI into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install -q playwright
fi
echo "frontend deps: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'), playwright ok"
