#!/usr/bin/env bash
# One-time (and idempotent) set-up of a fresh clone: Node 24, dependencies, generated code, build.
# Fast when everything is already in place: each step is skipped when its inputs did not change.
#   scripts/setup.sh            set up
#   scripts/setup.sh --print-env  print the PATH line other scripts source
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
toolchain="$root/.toolchain"
required_major=24

say() { printf '[setup] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# 1. Node >= 24: the system's when new enough, else one from the npm registry in .toolchain/.
pick_node() {
  if command -v node >/dev/null && [ "$(node_major node)" -ge "$required_major" ]; then
    dirname "$(command -v node)"
    return
  fi
  if [ -x "$toolchain/node_modules/.bin/node" ] && [ "$(node_major "$toolchain/node_modules/.bin/node")" -ge "$required_major" ]; then
    echo "$toolchain/node_modules/.bin"
    return
  fi
  command -v npm >/dev/null || { say "npm is needed to install Node $required_major (apt-get install npm)"; exit 1; }
  say "system Node is $(node --version 2>/dev/null || echo missing); installing Node $required_major into .toolchain/ from the npm registry"
  mkdir -p "$toolchain"
  [ -f "$toolchain/package.json" ] || echo '{"name":"cacheon-toolchain","private":true}' >"$toolchain/package.json"
  npm install --prefix "$toolchain" --no-audit --no-fund --loglevel=error "node@$required_major" >&2
  [ "$(node_major "$toolchain/node_modules/.bin/node")" -ge "$required_major" ] || { say "Node $required_major did not install into .toolchain/"; exit 1; }
  echo "$toolchain/node_modules/.bin"
}

node_bin="$(pick_node)"
if [ "${1:-}" = "--print-env" ]; then
  echo "export PATH=\"$root/node_modules/.bin:$node_bin:\$PATH\""
  exit 0
fi
export PATH="$root/node_modules/.bin:$node_bin:$PATH"
say "node $(node --version) from $node_bin"

stamp() { sha256sum "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# 2. Dependencies, reinstalled only when the lockfile changed.
lock_stamp="$(stamp package.json package-lock.json)"
if [ ! -f node_modules/.cacheon-stamp ] || [ "$(cat node_modules/.cacheon-stamp)" != "$lock_stamp" ]; then
  say "installing dependencies"
  # npm install, not npm ci: npm 11 leaves other platforms' optional packages (biome, buf) out of the
  # lockfile and then refuses it in ci mode; install still honours the locked versions.
  npm install --no-audit --no-fund --loglevel=error >&2
  stamp package.json package-lock.json >node_modules/.cacheon-stamp
fi

# 3. Generated code from the contract (committed; regenerated when a .proto changed).
proto_stamp="$(stamp $(find proto -name '*.proto' | sort) buf.yaml buf.gen.yaml)"
if [ ! -f shared/gen/.stamp ] || [ "$(cat shared/gen/.stamp)" != "$proto_stamp" ]; then
  say "generating code from proto/"
  npm run --silent generate >&2
  echo "$proto_stamp" >shared/gen/.stamp
fi

# 4. Build (tsc is incremental: a no-op build takes about a second).
say "building"
npm run --silent build >&2
say "ready"
