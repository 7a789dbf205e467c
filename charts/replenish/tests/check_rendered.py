"""Assertions on the chart's rendered objects; run.sh runs it with the cached tools' Python.

usage: check_rendered.py REPO_ROOT NAME=RENDERED.yaml[:VALUES.yaml] ...

Renders named `default`, `all-on`, `existing-secret` and `minimal` are expected. Each check prints
`ok - ...` or `not ok - ...` with the reason; run.sh counts those lines.
"""

import base64
import copy
import filecmp
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

import check_operating

CHART = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The oldest Kubernetes the operator is built for (k8s-openapi feature v1_33) and the newest
# kubernetes-validate knows.
K8S_VERSIONS = ["1.33.0", kubernetes_validate.latest_version()]
# Custom resources of other projects: kubernetes-validate has no schema for them.
# Gateway API's HTTPRoute, Envoy Gateway's BackendTrafficPolicy and Istio's DestinationRule are
# checked structurally instead (check_operating.py).
FOREIGN_GROUPS = ("monitoring.coreos.com/", "gateway.networking.k8s.io/", "gateway.envoyproxy.io/",
                  "networking.istio.io/")
PLAN_FIELDS = {"minReplicas", "maxReplicas", "targetCPUUtilizationPercentage", "limits"}

# The app reads these without the REPLENISH_ prefix (app/src/config.rs, Settings::load).
UNPREFIXED = {"database_url", "redis_url", "sentry_dsn", "openai_base_url", "openai_api_key"}

results = {"passed": 0, "failed": 0}


def skip(name, why):
    print(f"skip - {name} ({why})")


def check(name, fn):
    """Runs one check: fn returns None when it holds, else raises AssertionError."""
    try:
        fn()
    except AssertionError as e:
        results["failed"] += 1
        print(f"not ok - {name}\n    " + "\n    ".join(str(e).splitlines()))
    except Exception as e:  # noqa: BLE001 - a crash in a check is its failure, not the run's end
        results["failed"] += 1
        print(f"not ok - {name}\n    {type(e).__name__}: {e}")
    else:
        results["passed"] += 1
        print(f"ok - {name}")


def merge(base, over):
    """Helm's values merge: maps merge deeply, null deletes a key, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def drop_nulls(d):
    if isinstance(d, dict):
        return {k: drop_nulls(v) for k, v in d.items() if v is not None}
    return d


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


class Render:
    namespace = "replenish"  # run.sh renders with -n replenish

    def __init__(self, path, values_path):
        with open(path) as f:
            self.objects = [d for d in yaml.safe_load_all(f) if d]
        self.values = merge(load_yaml(os.path.join(CHART, "values.yaml")), load_yaml(values_path) if values_path else {})

    def of_kind(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind, component=None):
        found = [o for o in self.of_kind(kind)
                 if component is None or o["metadata"]["labels"].get("app.kubernetes.io/component") == component]
        assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
        return found[0]

    def deployment(self, component):
        return self.one("Deployment", component)


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


# --- checks ---------------------------------------------------------------------------

def validates(render):
    def run():
        problems, seen = [], 0
        for obj in render.objects:
            if obj["apiVersion"].startswith(FOREIGN_GROUPS):
                continue
            seen += 1
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except Exception as e:  # noqa: BLE001 - every kind of refusal is reported
                    problems.append(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {getattr(e, 'message', e)}")
        assert seen > 0, "nothing rendered"
        assert not problems, "\n    ".join(problems)
    return run


def hpa_bounds(render):
    def run():
        want = render.values["app"]["autoscaling"]
        hpa = render.one("HorizontalPodAutoscaler")["spec"]
        assert hpa["minReplicas"] == want["minReplicas"], f"minReplicas {hpa['minReplicas']} != {want['minReplicas']}"
        assert hpa["maxReplicas"] == want["maxReplicas"], f"maxReplicas {hpa['maxReplicas']} != {want['maxReplicas']}"
        targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
        expected = {"cpu": want["targetCPUUtilizationPercentage"]}
        if want.get("targetMemoryUtilizationPercentage") is not None:
            expected["memory"] = want["targetMemoryUtilizationPercentage"]
        assert targets == expected, f"targets {targets} != {expected}"
        assert hpa["scaleTargetRef"]["name"] == render.deployment("app")["metadata"]["name"]
        assert "replicas" not in render.deployment("app")["spec"], "the HPA owns replicas, the Deployment must not set them"
    return run


def cluster_role(render, repo):
    def run():
        source = os.path.join(repo, "operator", "rbac", "clusterrole.yaml")
        assert os.path.exists(source), (
            f"{source} is missing: the operator's least-privilege rules must be in the tree "
            "(they come with the operator branch)")
        want = load_yaml(source)["rules"]
        got = render.one("ClusterRole", "operator")
        assert got["rules"] == want, f"rules differ from operator/rbac/clusterrole.yaml:\n{yaml.safe_dump(got['rules'])}"
        binding = render.one("ClusterRoleBinding")
        assert binding["roleRef"]["name"] == got["metadata"]["name"]
        sa = render.deployment("operator")["spec"]["template"]["spec"]["serviceAccountName"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "replenish"}], binding["subjects"]
    return run


def crd_limits_schema(repo):
    crd = load_yaml(os.path.join(repo, "crds", "tenants.replenish.dev.yaml"))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["limits"]
    return schema


def plan_profiles(render, repo):
    """The operator's plan defaults file (operator/src/config.rs, PlanDefaults::parse)."""
    def run():
        cm = render.one("ConfigMap", "operator")
        text = cm["data"]["plan-defaults.yaml"]
        plans = yaml.safe_load(text)
        assert plans == drop_nulls(render.values["plans"]), f"file differs from values.plans:\n{text}"
        assert set(plans) == {"starter", "growth", "enterprise"}, f"plans: {sorted(plans)}"
        limits_schema = crd_limits_schema(repo)
        for name, p in plans.items():
            assert set(p) <= PLAN_FIELDS, f"{name}: unknown fields {set(p) - PLAN_FIELDS} (the operator denies them)"
            assert 1 <= p["minReplicas"] <= p["maxReplicas"], f"{name}: replica bounds {p}"
            assert 1 <= p["targetCPUUtilizationPercentage"] <= 100, f"{name}: CPU target"
            # The same type as the Tenant's spec.limits: its CRD schema is the operator's.
            jsonschema.validate(p.get("limits", {}), {**limits_schema, "additionalProperties": False})
        # The file reaches the operator: mounted where its variable points.
        dep = render.deployment("operator")
        path = env_of(container(dep))["REPLENISH_OPERATOR_PLAN_DEFAULTS"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        vol = next(n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"])
        assert path == f"{mounts[vol]}/plan-defaults.yaml", f"{path} is not the mounted ConfigMap"
    return run


def schema_limits_match_crd(repo):
    def run():
        schema = load_yaml(os.path.join(CHART, "values.schema.json"))
        ours = schema["definitions"]["planProfile"]["properties"]["limits"]["properties"]
        theirs = crd_limits_schema(repo)["properties"]
        assert set(ours) == set(theirs), f"values.schema.json plan limits {sorted(ours)} != CRD {sorted(theirs)}"
        for k, t in theirs.items():
            for bound in ("minimum", "maximum"):
                assert ours[k].get(bound) == t.get(bound), f"{k}.{bound}: {ours[k].get(bound)} != CRD {t.get(bound)}"
    return run


def crds_match(repo):
    def run():
        top, ours = os.path.join(repo, "crds"), os.path.join(CHART, "crds")
        assert os.path.isdir(top), f"{top} is missing"
        names = sorted(os.listdir(top))
        assert names and names == sorted(os.listdir(ours)), f"files differ: {names} vs {sorted(os.listdir(ours))}"
        differ = [n for n in names if not filecmp.cmp(os.path.join(top, n), os.path.join(ours, n), shallow=False)]
        assert not differ, f"chart crds/ differ from top-level crds/: {differ} (copy crds/*.yaml into the chart)"
    return run


def crds_valid():
    def run():
        problems = []
        for n in sorted(os.listdir(os.path.join(CHART, "crds"))):
            crd = load_yaml(os.path.join(CHART, "crds", n))
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(crd, version, strict=True)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"{n} on {version}: {getattr(e, 'message', e)}")
            for v in crd["spec"]["versions"]:
                schema = v.get("schema", {}).get("openAPIV3Schema", {})
                if schema.get("type") != "object":
                    problems.append(f"{n} {v['name']}: no structural schema")
        assert not problems, "\n    ".join(problems)
    return run


def app_pod(render):
    def run():
        dep = render.deployment("app")
        pod = dep["spec"]["template"]["spec"]
        c = container(dep)
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["resources"].get("requests", {}).get("cpu"), "a CPU request is needed for the HPA"
        assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["args"] == ["serve", "--no-migrate"], c["args"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        port = ports["http"]
        assert port == render.values["app"]["port"]
        # /metrics names every tenant: a port of its own, never the API's.
        metrics_port = ports["metrics"]
        assert metrics_port == render.values["app"]["metricsPort"] and metrics_port != port, ports
        cm = render.one("ConfigMap", "app")
        assert cm["data"]["REPLENISH_RUN_MIGRATIONS"] == "false"
        assert cm["data"]["REPLENISH_LISTEN"] == f"0.0.0.0:{port}"
        assert cm["data"]["REPLENISH_METRICS_LISTEN"] == f"0.0.0.0:{metrics_port}"
        refs = [(k, v["name"]) for e in c["envFrom"] for k, v in e.items()]
        assert ("configMapRef", cm["metadata"]["name"]) in refs, refs
        assert any(k == "secretRef" for k, _ in refs), refs
        svc = render.one("Service", "app")
        svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert svc_ports["http"]["port"] == render.values["app"]["service"]["port"]
        assert svc_ports["http"]["targetPort"] == "http"
        assert svc_ports["metrics"]["port"] == render.values["app"]["service"]["metricsPort"]
        assert svc_ports["metrics"]["targetPort"] == "metrics"
        assert render.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert pod["serviceAccountName"] == render.one("ServiceAccount", "app")["metadata"]["name"]
    return run


def migrations(render):
    def run():
        job = render.one("Job", "migrations")
        hooks = job["metadata"]["annotations"]["helm.sh/hook"]
        assert set(hooks.split(",")) == {"pre-install", "pre-upgrade"}, hooks
        c = job["spec"]["template"]["spec"]["containers"][0]
        assert c["args"] == ["migrate"], c["args"]
        ref = env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        existing = render.values["existingSecret"]
        if existing:
            assert ref["name"] == existing, ref
        else:
            # Hooks run before ordinary objects exist: the Secret it reads must be a hook too.
            secret = next(s for s in render.of_kind("Secret") if s["metadata"]["name"] == ref["name"])
            assert "pre-install" in secret["metadata"]["annotations"]["helm.sh/hook"]
            assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
            url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
            assert url == render.values["database"]["url"], url
    return run


def operator(render):
    def run():
        dep = render.deployment("operator")
        assert dep["spec"]["replicas"] == render.values["operator"]["replicas"]
        env = env_of(container(dep))
        for name in ("REPLENISH_OPERATOR_LEASE_NAME", "POD_NAME", "POD_NAMESPACE", "REPLENISH_OPERATOR_ADMIN_TOKEN_FILE"):
            assert name in env, f"{name} missing"
        svc = render.one("Service", "app")
        url = f"http://{svc['metadata']['name']}.replenish.svc:{svc['spec']['ports'][0]['port']}"
        assert env["REPLENISH_OPERATOR_APP_URL"]["value"] == url, env["REPLENISH_OPERATOR_APP_URL"]
        metrics = render.one("Service", "operator")
        assert metrics["spec"]["ports"][0]["targetPort"] == "metrics"
        assert container(dep)["livenessProbe"]["httpGet"]["path"] == "/healthz"
    return run


def secrets(render):
    def run():
        existing = render.values["existingSecret"]
        app_c, op = container(render.deployment("app")), render.deployment("operator")
        app_secret = next(v["name"] for e in app_c["envFrom"] for k, v in e.items() if k == "secretRef")
        token_vol = next(v for v in op["spec"]["template"]["spec"]["volumes"] if "secret" in v)["secret"]["secretName"]
        env_secret = env_of(container(op))["REPLENISH_OPERATOR_APP_ENV_SECRET"]["value"]
        assert app_secret == token_vol == env_secret, (app_secret, token_vol, env_secret)
        ordinary = [s for s in render.of_kind("Secret") if "helm.sh/hook" not in s["metadata"].get("annotations", {})]
        if existing:
            assert app_secret == existing and not render.of_kind("Secret"), "with existingSecret the chart makes no Secret"
        else:
            [secret] = ordinary
            assert secret["metadata"]["name"] == app_secret
            data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
            want_token = render.values["adminToken"]["value"]
            assert len(data["REPLENISH_ADMIN_TOKEN"]) >= 16, "admin token too short"
            assert not want_token or data["REPLENISH_ADMIN_TOKEN"] == want_token
            assert data["DATABASE_URL"] == render.values["database"]["url"]
            assert data.get("REDIS_URL", "") == render.values["redis"]["url"]
    return run


def optional(render, on):
    def run():
        kinds = [o["kind"] for o in render.objects]
        want = 2 if on else 0
        assert kinds.count("ServiceMonitor") == want, f"{kinds.count('ServiceMonitor')} ServiceMonitors"
        assert kinds.count("NetworkPolicy") == want, f"{kinds.count('NetworkPolicy')} NetworkPolicies"
        if on:
            # However narrow appFrom is, the operator must still reach the admin API.
            app_policy = next(p for p in render.of_kind("NetworkPolicy")
                              if p["metadata"]["labels"]["app.kubernetes.io/component"] == "app")
            operator_labels = render.deployment("operator")["spec"]["selector"]["matchLabels"]
            http_rule, metrics_rule = app_policy["spec"]["ingress"]
            assert http_rule["ports"] == [{"port": "http", "protocol": "TCP"}], http_rule
            peers = http_rule["from"]
            assert {"podSelector": {"matchLabels": operator_labels}} in peers, peers
            # The metrics port admits only the scrapers, not appFrom or the operator.
            assert metrics_rule["ports"] == [{"port": "metrics", "protocol": "TCP"}], metrics_rule
            assert metrics_rule.get("from") == (render.values["networkPolicy"]["metricsFrom"] or None), metrics_rule
            app_monitor = next(m for m in render.of_kind("ServiceMonitor")
                               if m["metadata"]["labels"]["app.kubernetes.io/component"] == "app")
            assert app_monitor["spec"]["endpoints"][0]["port"] == "metrics", app_monitor
    return run


def minimal(render):
    def run():
        kinds = {o["kind"] for o in render.objects}
        for absent in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "ClusterRole", "Job"):
            assert absent not in kinds, f"{absent} rendered"
        assert [d["metadata"]["name"] for d in render.of_kind("Deployment")] == ["replenish"], "only the app expected"
        assert render.deployment("app")["spec"]["replicas"] == render.values["app"]["replicaCount"]
    return run


def dedicated_app(render, repo):
    """The dedicated apps' settings file (operator/src/config.rs, DedicatedAppSettings)."""
    def run():
        cm = render.one("ConfigMap", "operator")
        d = yaml.safe_load(cm["data"]["dedicated-app.yaml"])
        v = render.values
        assert set(d) <= {"imagePullSecrets", "imagePullPolicy", "resources", "env",
                          "terminationGracePeriodSeconds", "networkPolicy"}, f"unknown fields: {sorted(d)}"
        assert d["imagePullSecrets"] == v["imagePullSecrets"], d["imagePullSecrets"]
        assert d["imagePullPolicy"] == v["image"]["pullPolicy"], d["imagePullPolicy"]
        want = {kind: {k: str(q) for k, q in qs.items()} for kind, qs in v["app"]["resources"].items()}
        assert d["resources"] == want, f"{d['resources']} != {want}"
        assert all(isinstance(q, str) for qs in d["resources"].values() for q in qs.values()), "quantities are strings"
        assert d["env"] == render.one("ConfigMap", "app")["data"], "env differs from the app's ConfigMap"
        assert d["terminationGracePeriodSeconds"] == v["app"]["config"]["shutdownTimeoutSecs"] + 5
        if v["networkPolicy"]["enabled"]:
            assert d["networkPolicy"] == {"from": v["networkPolicy"]["appFrom"]}, d.get("networkPolicy")
        else:
            assert "networkPolicy" not in d, d["networkPolicy"]
        dep = render.deployment("operator")
        path = env_of(container(dep))["REPLENISH_OPERATOR_DEDICATED_APP"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        vol = next(n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"])
        assert path == f"{mounts[vol]}/dedicated-app.yaml", f"{path} is not the mounted ConfigMap"
    return run


def app_variables(repo):
    """The variables the app reads: the fields of `struct Settings` in app/src/config.rs and of
    `struct AssistantSettings`, flattened into it."""
    text = open(os.path.join(repo, "app", "src", "config.rs")).read()
    fields = []
    for struct in ("pub struct Settings {", "pub struct AssistantSettings {"):
        body = text[text.index(struct):]
        body = body[:body.index("\n}")]
        fields += re.findall(r"^\s*pub (\w+):", body, re.M)
    assert fields, "no fields found in app/src/config.rs Settings"
    return {f.upper() if f in UNPREFIXED else f"REPLENISH_{f.upper()}" for f in fields}


def app_variables_known(render, repo):
    def run():
        known = app_variables(repo)
        used = set(render.one("ConfigMap", "app")["data"])
        for secret in render.of_kind("Secret"):
            used |= set(secret["data"])
        for c in [container(render.deployment("app")), render.one("Job", "migrations")["spec"]["template"]["spec"]["containers"][0]]:
            used |= set(env_of(c))
        # extraEnv is the user's to fill, with whatever the app or its libraries read.
        used -= {e["name"] for e in render.values["app"]["extraEnv"]}
        unknown = sorted(used - known)
        assert not unknown, f"the chart sets variables the app does not read: {unknown}"
    return run


def operator_variables_known(render, config_rs):
    def run():
        known = set(re.findall(r'env = "(\w+)"', open(config_rs).read())) | {"RUST_LOG"}
        extra = {e["name"] for e in render.values["operator"]["extraEnv"]}
        unknown = sorted(set(env_of(container(render.deployment("operator")))) - known - extra)
        assert not unknown, f"the chart sets variables the operator does not read: {unknown}"
    return run


# Maps whose keys are the user's (or Kubernetes'), documented as one row.
FREE_FORM = {"resources", "podSecurityContext", "nodeSelector", "affinity", "tolerations", "annotations",
             "labels", "podAnnotations", "limits", "imagePullSecrets", "appFrom", "metricsFrom"}


def value_keys(values, prefix=""):
    """Dotted paths of the values; the three plans share one set of rows (`plans.<plan>.…`)."""
    for k, v in values.items():
        if prefix == "plans.":
            k = "<plan>"
        if isinstance(v, dict) and v and k not in FREE_FORM:
            yield from value_keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def documented_keys():
    """First cells of the README's values table; `a.b.c, .d` stands for a.b.c and a.b.d."""
    keys = set()
    with open(os.path.join(CHART, "README.md")) as f:
        for line in f:
            if not line.startswith("| `"):
                continue
            items = [i.strip().strip("`") for i in line.split("|")[1].split(",")]
            parent = items[0].rsplit(".", 1)[0]
            keys.update(parent + i if i.startswith(".") else i for i in items)
    return keys


def values_documented():
    def run():
        values = load_yaml(os.path.join(CHART, "values.yaml"))
        missing = sorted(set(value_keys(values)) - documented_keys())
        assert not missing, f"values missing from README.md's table: {missing}"
    return run


def main():
    repo, renders = sys.argv[1], {}
    for arg in sys.argv[2:]:
        name, paths = arg.split("=", 1)
        rendered, _, values = paths.partition(":")
        renders[name] = Render(rendered, values or None)

    check("chart crds/ are identical to the top-level crds/", crds_match(repo))
    check("the CRDs are valid CustomResourceDefinitions with structural schemas", crds_valid())
    check("every value is in README.md's values table", values_documented())
    check("values.schema.json plan limits match the Tenant CRD's spec.limits", schema_limits_match_crd(repo))
    for name, r in renders.items():
        check(f"{name}: objects valid for Kubernetes {' and '.join(K8S_VERSIONS)}", validates(r))
    check("minimal: no operator, HPA, PDB or hook; fixed replicas", minimal(renders["minimal"]))
    for name in ("default", "all-on", "existing-secret"):
        r = renders[name]
        check(f"{name}: ClusterRole equals operator/rbac/clusterrole.yaml", cluster_role(r, repo))
        check(f"{name}: secrets wired (env Secret, admin token, operator)", secrets(r))
        check(f"{name}: migrations Job is a pre-install/pre-upgrade hook running `replenish migrate`", migrations(r))
    for name in ("default", "all-on"):
        r = renders[name]
        check(f"{name}: every variable set on the app is one app/src/config.rs reads", app_variables_known(r, repo))
        config_rs = os.path.join(repo, "operator", "src", "config.rs")
        if os.path.exists(config_rs):
            check(f"{name}: every variable set on the operator is one operator/src/config.rs reads",
                  operator_variables_known(r, config_rs))
        else:
            skip(f"{name}: operator variables against operator/src/config.rs", "not in this tree yet")
        check(f"{name}: HPA bounds and targets equal the values", hpa_bounds(r))
        check(f"{name}: plan profiles reach the operator's ConfigMap in its file format", plan_profiles(r, repo))
        check(f"{name}: dedicated apps' settings (pull secrets, resources, config, NetworkPolicy) reach the operator",
              dedicated_app(r, repo))
        check(f"{name}: app Deployment probes, non-root, read-only root, config from ConfigMap and Secret", app_pod(r))
        check(f"{name}: operator Deployment replicas, leader election, app URL", operator(r))
        check(f"{name}: ServiceMonitor and NetworkPolicy {'on' if name == 'all-on' else 'off'}", optional(r, name == "all-on"))
    for name, fn in check_operating.checks(renders):
        check(name, fn)
    print(f"checks: {results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
