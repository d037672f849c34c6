#!/usr/bin/python3
"""check_k8s.py SOURCE: the Kubernetes manifests of deploy/k8s, validated
offline. kubectl --dry-run=client needs an API server and no Debian package
ships the OpenAPI schema, so each document is deserialised into its typed
model of Debian's python3-kubernetes (the API's generated classes: types,
required fields, enums it checks) -- and, stricter than the client, every
key must be a field of its model, so a typo is an error, not silently
dropped. Then what the deployment relies on: selectors match their pod
templates, every meterd container has liveness on /health and readiness on
/ready, referenced ConfigMaps and Secrets exist, PDBs select a workload,
the compute DaemonSet has hostPID, read-only /proc and /sys/fs/cgroup and
exactly the perf capabilities. Skips (77) without python3-kubernetes."""
import glob
import os
import sys

try:
    import yaml
    from kubernetes import client
except ImportError as e:
    print(f"SKIP: {e} (apt-get install python3-kubernetes python3-yaml)")
    sys.exit(77)

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def strict(data, type_name, where):
    """Every key of data is a field of the model type_name (recursively)."""
    if data is None:
        return
    if type_name.startswith("list["):
        for i, item in enumerate(data if isinstance(data, list) else []):
            strict(item, type_name[5:-1], f"{where}[{i}]")
        return
    if type_name.startswith("dict("):
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        for k, v in (data if isinstance(data, dict) else {}).items():
            strict(v, inner, f"{where}.{k}")
        return
    cls = getattr(client, type_name, None)
    if cls is None:
        return  # str, int, object...
    if not isinstance(data, dict):
        err(where, f"expected a mapping ({type_name}), got {type(data).__name__}")
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for k, v in data.items():
        if k not in by_json:
            err(where, f"unknown field '{k}' in {type_name}")
            continue
        strict(v, cls.openapi_types[by_json[k]], f"{where}.{k}")


def model_name(doc):
    group_version = doc.get("apiVersion", "")
    version = group_version.split("/")[-1]
    return version[0].upper() + version[1:] + doc.get("kind", "")


def main():
    src = sys.argv[1]
    api = client.ApiClient()
    docs = []
    files = sorted(glob.glob(os.path.join(src, "deploy", "k8s", "*.yaml")))
    if not files:
        err("deploy/k8s", "no manifests")
    for path in files:
        name = os.path.relpath(path, src)
        with open(path) as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is None:
                    continue
                where = f"{name}#{i + 1} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
                type_name = model_name(doc)
                if not hasattr(client, type_name):
                    err(where, f"no model {type_name} (apiVersion/kind)")
                    continue
                strict(doc, type_name, where)
                try:
                    obj = api._ApiClient__deserialize(doc, type_name)
                except (ValueError, TypeError) as e:
                    err(where, f"not a valid {type_name}: {e}")
                    continue
                docs.append((where, doc, obj))
    check_semantics(docs)
    for e in errors:
        print("FAIL:", e)
    print(f"{len(docs)} manifests deserialised into typed models; {len(errors)} problems")
    return 1 if errors else 0


def check_semantics(docs):
    kinds = {}
    for where, doc, obj in docs:
        kinds.setdefault(doc["kind"], []).append((where, doc, obj))
    names = {(d["kind"], d["metadata"]["name"]) for _, d, _ in docs}
    workloads = [x for k in ("Deployment", "DaemonSet", "StatefulSet") for x in kinds.get(k, [])]
    for where, doc, obj in workloads:
        sel = obj.spec.selector.match_labels or {}
        labels = obj.spec.template.metadata.labels or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            err(where, f"selector {sel} does not match the template's labels {labels}")
        pod = obj.spec.template.spec
        for vol in pod.volumes or []:
            if vol.config_map and ("ConfigMap", vol.config_map.name) not in names:
                err(where, f"volume {vol.name}: no ConfigMap {vol.config_map.name}")
            for s in (vol.projected.sources if vol.projected else []) or []:
                if s.secret and ("Secret", s.secret.name) not in names:
                    err(where, f"volume {vol.name}: no Secret {s.secret.name}")
        for c in pod.containers:
            if not c.image.startswith("registry.example.org/meterd"):
                continue
            for probe, path in (("liveness_probe", "/health"), ("readiness_probe", "/ready")):
                p = getattr(c, probe)
                if not p or not p.http_get or p.http_get.path != path:
                    err(where, f"container {c.name}: {probe} must GET {path}")
            sc = c.security_context
            if not sc or sc.allow_privilege_escalation is not False or sc.privileged:
                err(where, f"container {c.name}: privilege escalation must be off, not privileged")
            if not sc or not sc.capabilities or sc.capabilities.drop != ["ALL"]:
                err(where, f"container {c.name}: must drop ALL capabilities")
    for where, doc, obj in kinds.get("DaemonSet", []):
        pod = obj.spec.template.spec
        if not pod.host_pid:
            err(where, "compute agents need hostPID")
        mounts = {m.mount_path: m for c in pod.containers for m in c.volume_mounts or []}
        for path in ("/host/proc", "/sys/fs/cgroup"):
            if path not in mounts or not mounts[path].read_only:
                err(where, f"{path} must be mounted read-only")
        added = sorted(pod.containers[0].security_context.capabilities.add or [])
        if added != ["PERFMON", "SYS_PTRACE"]:
            err(where, f"capabilities {added}: exactly PERFMON and SYS_PTRACE")
    for where, doc, obj in kinds.get("PodDisruptionBudget", []):
        sel = obj.spec.selector.match_labels or {}
        if not any(
            all((w_obj.spec.template.metadata.labels or {}).get(k) == v for k, v in sel.items())
            for _, _, w_obj in workloads
        ):
            err(where, f"selector {sel} selects no workload")
    for where, doc, obj in kinds.get("Service", []):
        sel = obj.spec.selector or {}
        if not any(
            all((w_obj.spec.template.metadata.labels or {}).get(k) == v for k, v in sel.items())
            for _, _, w_obj in workloads
        ):
            err(where, f"selector {sel} selects no pod")
    # the ConfigMap's meterd.conf and pipeline parse (keys checked by check_docs/meterd)
    for where, doc, obj in kinds.get("ConfigMap", []):
        for key, text in (obj.data or {}).items():
            if key.endswith(".yaml"):
                try:
                    yaml.safe_load(text)
                except yaml.YAMLError as e:
                    err(where, f"{key}: {e}")


if __name__ == "__main__":
    sys.exit(main())
