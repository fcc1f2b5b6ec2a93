#!/bin/sh
# Last step of every Python image's build stage: drop what the running service never uses from the venv
# that the runtime stage copies, and keep compiled bytecode only for the modules the service imports.
#   slim-venv.sh VENV MODULE...
# Each line names what goes and why it is safe:
#   pip, setuptools, wheel      the runtime installs nothing (read-only root filesystem)
#   */tests, */test             test suites shipped inside wheels (scipy, sklearn, pandas, onnx, ...)
#   torch/include, torch/share  C++ headers and CMake files, for building extensions only
#   torch/bin/* but the shm     C++ test binaries and protoc; torch_shm_manager serves DataLoader workers
#   __pycache__                 pip compiles every module (220 MB in the inference image); importing MODULE...
#                               here compiles again just what the service loads, so start-up stays fast
#                               on a read-only filesystem and the rest compiles on first use, in memory
set -eu
venv="$1"
shift
site="$(echo "$venv"/lib/python3*/site-packages)"
"$venv/bin/python" -m pip uninstall -q -y pip setuptools wheel >/dev/null 2>&1 || true
find "$site" -mindepth 2 -type d \( -name tests -o -name test \) -prune -exec rm -rf {} +
if [ -d "$site/torch" ]; then
  rm -rf "$site/torch/include" "$site/torch/share"
  find "$site/torch/bin" -type f ! -name torch_shm_manager -delete 2>/dev/null || true
fi
find "$site" -type d -name __pycache__ -prune -exec rm -rf {} +
PYTHONDONTWRITEBYTECODE="" "$venv/bin/python" -c \
  "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]" "$@"
