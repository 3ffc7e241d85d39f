#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian machine, and nothing that is already there:
# Bun at the version pinned in package.json (through npm), Debian's docker-registry and skopeo
# for the end-to-end tests (through apt-get), then the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

bun_version=$(node -p "require('./package.json').engines.bun")
if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version)" != "$bun_version" ]; then
  echo "setup: installing bun@$bun_version with npm"
  npm install -g --no-fund --no-audit "bun@$bun_version"
fi

missing=()
for tool in docker-registry skopeo; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get (needed by the end-to-end tests)"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    # The end-to-end tests then fail and say how to install them; they never skip silently.
    echo "setup: could not install ${missing[*]}; install them with: apt-get install -y docker-registry skopeo" >&2
  fi
fi

bun install --frozen-lockfile
