#!/usr/bin/env bash
# Install moto's server (the local stand-in for the AWS APIs that the AWS
# backend's integration tests run against). Skips the install when present.
set -euo pipefail
if command -v moto_server >/dev/null 2>&1 && python3 -c 'import moto' 2>/dev/null; then
  echo "moto_server: $(command -v moto_server) (moto $(python3 -c 'import moto; print(moto.__version__)'))"
  exit 0
fi
python3 -m pip install --quiet 'moto[server]'
command -v moto_server >/dev/null 2>&1 || { echo "moto_server is not on PATH after installing moto[server]" >&2; exit 1; }
echo "moto_server: $(command -v moto_server)"
