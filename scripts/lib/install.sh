# Shared install steps for scripts/test, scripts/demo and .ci/run. Sourced, not run.

# ensure_debian_packages BIN:PACKAGE ... installs each PACKAGE whose BIN is not on PATH (or in /usr/sbin).
ensure_debian_packages() {
  local missing=() pair bin pkg
  for pair in "$@"; do
    bin=${pair%%:*}; pkg=${pair#*:}
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/usr/bin/$bin" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${missing[*]} (install them with your package manager)" >&2
    return 1
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_node_modules runs `npm ci` unless node_modules matches package-lock.json already.
ensure_node_modules() {
  if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] && [ -d dist ]; then
    return 0
  fi
  npm ci --no-audit --no-fund
}
