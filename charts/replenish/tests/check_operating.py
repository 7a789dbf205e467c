"""Checks of the chart's operating features: Ingress, HTTPRoute, device affinity, aggregated roles, the
PrometheusRule, the Grafana dashboard, extra variables, the assistant's settings and the
preStop delay. check_rendered.py runs `checks(renders)`; each entry is (name, fn) and fn
raises AssertionError when the check fails.
"""

import base64
import json
import os
import re

CHART = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(CHART, "files", "grafana-dashboard.json")
# RFC 1123 names, with the leading wildcard label Ingress and Gateway API allow.
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ALERTS = {"ReplenishHighErrorRatio", "ReplenishHighLatency", "ReplenishRateLimitSaturation", "ReplenishRedisFallback",
          "ReplenishOrderFailures", "ReplenishAssistantProviderFailures", "ReplenishAssistantBreakerOpen", "ReplenishMerchantBreakerOpen",
          "ReplenishSweeperBacklog", "ReplenishWebhookEndpointDisabled", "ReplenishWebhookDeliveriesFailing",
          "ReplenishOperatorReconcileErrors", "ReplenishOperatorNoLeader"}
# What the dashboard must show (issue 17): each word must appear in some panel's title.
DASHBOARD_TOPICS = ("funnel", "latency", "orders", "limit", "actors")


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def named(render, kind, component):
    return [o for o in render.of_kind(kind) if o["metadata"]["labels"].get("app.kubernetes.io/component") == component]


def app_backend(render):
    svc = render.one("Service", "app")
    return svc["metadata"]["name"], {p["name"]: p["port"] for p in svc["spec"]["ports"]}["http"]


def ingress(render):
    def run():
        v = render.values["ingress"]
        found = render.of_kind("Ingress")
        if not v["enabled"]:
            assert not found, "Ingress rendered while ingress.enabled is false"
            return
        [ing] = found
        spec = ing["spec"]
        assert spec.get("ingressClassName", "") == v["className"], spec.get("ingressClassName")
        assert ing["metadata"].get("annotations", {}) == {**affinity_annotations(v), **v["annotations"]}
        assert spec.get("tls", []) == v["tls"], spec.get("tls")
        hosts = [r.get("host") for r in spec["rules"]]
        assert hosts == (v["hosts"] or [None]), hosts
        name, _ = app_backend(render)
        for rule in spec["rules"]:
            paths = rule["http"]["paths"]
            assert [(p["path"], p["pathType"]) for p in paths] == [(p["path"], p["pathType"]) for p in v["paths"]]
            for p in paths:
                assert p["backend"] == {"service": {"name": name, "port": {"name": "http"}}}, p["backend"]
    return run


def affinity_annotations(ingress_values):
    """The ingress-nginx annotations ingress.deviceAffinity stands for (issue 16)."""
    a = ingress_values["deviceAffinity"]
    if not a["enabled"]:
        return {}
    return {"nginx.ingress.kubernetes.io/upstream-hash-by": a["hashBy"],
            "nginx.ingress.kubernetes.io/upstream-hash-by-subset": "false"}


def device_affinity(render):
    """Each device reaches one pod: the Gateway implementation's consistent-hash policy when one is
    chosen, and no Service sessionAffinity that would pin clients by address instead."""
    def run():
        svc = render.one("Service", "app")
        assert svc["spec"].get("sessionAffinity", "None") == "None", svc["spec"]["sessionAffinity"]
        r = render.values["httpRoute"]
        policies = render.of_kind("BackendTrafficPolicy")
        rules = render.of_kind("DestinationRule")
        chosen = r["deviceAffinity"]["implementation"] if r["enabled"] else "none"
        assert len(policies) == (chosen == "envoyGateway"), f"{len(policies)} BackendTrafficPolicies for {chosen}"
        assert len(rules) == (chosen == "istio"), f"{len(rules)} DestinationRules for {chosen}"
        header = r["deviceAffinity"]["header"]
        name, _ = app_backend(render)
        if policies:
            [p] = policies
            assert p["apiVersion"] == "gateway.envoyproxy.io/v1alpha1", p["apiVersion"]
            route = render.one("HTTPRoute")["metadata"]["name"]
            assert p["spec"]["targetRefs"] == [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}], p["spec"]["targetRefs"]
            assert p["spec"]["loadBalancer"] == {"type": "ConsistentHash", "consistentHash": {
                "type": "Headers", "headers": [{"name": header}]}}, p["spec"]["loadBalancer"]
        if rules:
            [d] = rules
            assert d["apiVersion"] == "networking.istio.io/v1", d["apiVersion"]
            assert d["spec"] == {"host": f"{name}.{render.namespace}.svc.cluster.local", "trafficPolicy": {
                "loadBalancer": {"consistentHash": {"httpHeaderName": header}}}}, d["spec"]
    return run


def http_route(render):
    """Structural: kubernetes-validate has no schema for Gateway API kinds."""
    def run():
        v = render.values["httpRoute"]
        found = render.of_kind("HTTPRoute")
        if not v["enabled"]:
            assert not found, "HTTPRoute rendered while httpRoute.enabled is false"
            return
        [route] = found
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1", route["apiVersion"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", route["metadata"]["name"])
        spec = route["spec"]
        assert set(spec) <= {"parentRefs", "hostnames", "rules"}, sorted(spec)
        assert spec["parentRefs"] and spec["parentRefs"] == v["parentRefs"], spec["parentRefs"]
        for ref in spec["parentRefs"]:
            assert set(ref) <= {"group", "kind", "name", "namespace", "sectionName", "port"} and ref["name"], ref
        for host in spec.get("hostnames", []):
            assert HOSTNAME.match(host) and len(host) <= 253, f"bad hostname {host!r}"
        assert 1 <= len(spec["rules"]) <= 16, "Gateway API allows 1-16 rules"
        name, port = app_backend(render)
        for rule in spec["rules"]:
            assert set(rule) <= {"matches", "backendRefs"}, sorted(rule)
            assert 1 <= len(rule["matches"]) <= 64
            for m in rule["matches"]:
                assert m["path"]["type"] in ("PathPrefix", "Exact", "RegularExpression"), m
                assert m["path"]["value"].startswith("/"), m
            # A port number: backendRefs to a Service must name its port by number.
            assert rule["backendRefs"] == [{"name": name, "port": port}], rule["backendRefs"]
    return run


def aggregated_roles(render):
    def run():
        roles = named(render, "ClusterRole", "rbac")
        if not render.values["rbac"]["aggregateToDefaultRoles"]:
            assert not roles, "aggregated ClusterRoles rendered while rbac.aggregateToDefaultRoles is false"
            return
        by_target = {}
        for role in roles:
            for label, value in role["metadata"]["labels"].items():
                if label.startswith("rbac.authorization.k8s.io/aggregate-to-") and value == "true":
                    by_target.setdefault(label.rsplit("-", 1)[1], []).append(role)
        assert set(by_target) == {"view", "edit", "admin"}, sorted(by_target)
        for target, want in (("view", {"get", "list", "watch"}), ("edit", {"create", "update", "patch", "delete"})):
            for kind in ("tenants", "devices"):
                verbs = {verb for role in by_target[target] for rule in role["rules"]
                         if "replenish.dev" in rule["apiGroups"] and kind in rule["resources"] for verb in rule["verbs"]}
                assert want <= verbs, f"{target}: {kind} verbs {sorted(verbs)}"
        for role in roles:
            for rule in role["rules"]:
                writes = set(rule["verbs"]) - {"get", "list", "watch"}
                assert not (writes and any(r.endswith("/status") for r in rule["resources"])), "status is the operator's"
    return run


def prometheus_rule(render):
    def run():
        found = render.of_kind("PrometheusRule")
        if not render.values["prometheusRule"]["enabled"]:
            assert not found, "PrometheusRule rendered while prometheusRule.enabled is false"
            return
        [rule] = found
        for k, v in render.values["prometheusRule"]["labels"].items():
            assert rule["metadata"]["labels"].get(k) == v, f"label {k}"
        rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
        names = {r["alert"] for r in rules}
        want = ALERTS if render.values["operator"]["enabled"] else {a for a in ALERTS if "Operator" not in a}
        assert names == want, f"alerts: missing {sorted(want - names)}, unexpected {sorted(names - want)}"
        ns = f'namespace="{render.namespace}"'
        for r in rules:
            assert r["labels"]["severity"] in ("critical", "warning"), r
            assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]
            selectors = re.findall(r"\b(replenish_\w+)\{([^}]*)\}", r["expr"])
            assert selectors and all(ns in sel for _, sel in selectors), f"{r['alert']}: every selector names {ns}"
    return run


def dashboard(render):
    def run():
        with open(DASHBOARD) as f:
            board = json.load(f)
        assert board["uid"] and board["title"], "uid and title"
        panels = [p for p in board["panels"] if p["type"] != "row"]
        titles = " ".join(p["title"].lower() for p in panels)
        for topic in DASHBOARD_TOPICS:
            assert topic in titles, f"no panel about {topic}"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), "panel ids repeat"
        variables = {v["name"] for v in board["templating"]["list"]}
        assert {"datasource", "namespace"} <= variables, variables
        for p in panels:
            assert p["targets"], f"{p['title']}: no query"
            for t in p["targets"]:
                assert re.search(r"\breplenish_\w+", t["expr"]), f"{p['title']}: {t['expr']}"
                assert 'namespace="$namespace"' in t["expr"], f"{p['title']}: not filtered by namespace"
        cms = [c for c in render.of_kind("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
        if not render.values["grafanaDashboard"]["enabled"]:
            assert not cms, "dashboard ConfigMap rendered while grafanaDashboard.enabled is false"
            return
        [cm] = cms
        for k, v in render.values["grafanaDashboard"]["labels"].items():
            assert cm["metadata"]["labels"].get(k) == v, f"label {k}"
        assert json.loads(cm["data"]["replenish.json"]) == board, "the ConfigMap's JSON differs from the file"
    return run


def extra_env(render):
    def run():
        for component in ("app", "operator"):
            deps = named(render, "Deployment", component)
            if not deps:
                continue
            c, v = container(deps[0]), render.values[component]
            env = c.get("env", [])
            for e in v["extraEnv"]:
                assert e in env, f"{component}: {e['name']} missing"
            # Listed last, so they win over the chart's own (the kubelet keeps the last).
            assert env[len(env) - len(v["extraEnv"]):] == v["extraEnv"], f"{component}: extraEnv not last"
            for source in v["extraEnvFrom"]:
                assert source in c.get("envFrom", []), f"{component}: {source} missing from envFrom"
    return run


def assistant(render):
    def run():
        a = render.values["assistant"]
        data = render.one("ConfigMap", "app")["data"]
        want = {"OPENAI_BASE_URL": a["baseUrl"], "REPLENISH_VISION_MODEL": a["visionModel"],
                "REPLENISH_SPEECH_MODEL": a["speechModel"], "REPLENISH_SPEECH_VOICE": a["speechVoice"]}
        assert {k: data.get(k) for k in want} == want, data
        env = env_of(container(render.deployment("app")))
        secrets = [s for s in render.of_kind("Secret") if "helm.sh/hook" not in s["metadata"].get("annotations", {})]
        in_secret = [base64.b64decode(s["data"]["OPENAI_API_KEY"]).decode() for s in secrets if "OPENAI_API_KEY" in s["data"]]
        key = a["apiKey"]
        if key["existingSecret"]:
            ref = env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": key["existingSecret"], "key": key["existingSecretKey"]}, ref
            assert not in_secret, "the key is written although existingSecret names it"
        else:
            assert "OPENAI_API_KEY" not in env
            assert in_secret == ([key["value"]] if key["value"] and not render.values["existingSecret"] else []), in_secret
    return run


def pre_stop(render):
    def run():
        dep = render.deployment("app")
        c, sleep = container(dep), render.values["app"]["preStopSleepSeconds"]
        grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace == sleep + render.values["app"]["config"]["shutdownTimeoutSecs"] + 5, grace
        if sleep:
            assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": sleep}}}, c.get("lifecycle")
        else:
            assert "lifecycle" not in c
    return run


def checks(renders):
    out = []
    for name, r in renders.items():
        out += [
            (f"{name}: Ingress to the app's http port as the values say", ingress(r)),
            (f"{name}: HTTPRoute structurally valid, to the app's Service port", http_route(r)),
            (f"{name}: device affinity: the chosen Gateway policy hashes the token; no Service sessionAffinity",
             device_affinity(r)),
            (f"{name}: Tenant and Device aggregated to the built-in view/edit/admin roles", aggregated_roles(r)),
            (f"{name}: PrometheusRule has every alert, each scoped to the release namespace", prometheus_rule(r)),
            (f"{name}: Grafana dashboard parses, shows the funnel, latency, orders, limits, actors", dashboard(r)),
            (f"{name}: extraEnv/extraEnvFrom reach the app and the operator, last", extra_env(r)),
            (f"{name}: assistant settings in the ConfigMap, its API key from values or a Secret", assistant(r)),
            (f"{name}: preStop sleep and a grace period covering it and the drain", pre_stop(r)),
        ]
    return out
