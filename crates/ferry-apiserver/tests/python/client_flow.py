"""Drives the official Python `kubernetes` client against a Ferry API server.

Usage: client_flow.py KUBECONFIG. Prints one `step: detail` line per check; exits non-zero on failure.
"""
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
ns = "default"

# A watch started before the writes sees them (no resourceVersion: current state first, then changes).
events = []


def watch_configmaps():
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=3, allow_watch_bookmarks=True):
        events.append((ev["type"], ev["object"].metadata.name))


watcher = threading.Thread(target=watch_configmaps)
watcher.start()
time.sleep(0.5)

body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm", labels={"from": "python"}), data={"a": "1"})
created = core.create_namespaced_config_map(ns, body)
assert created.metadata.uid, "created object has a uid"
print("create:", created.metadata.name, created.metadata.resource_version)

listed = core.list_namespaced_config_map(ns, label_selector="from=python")
assert [i.metadata.name for i in listed.items] == ["py-cm"], listed.items
assert listed.metadata.resource_version, "list carries a resourceVersion"
print("list:", len(listed.items))

patched = core.patch_namespaced_config_map("py-cm", ns, {"data": {"b": "2"}})
assert patched.data == {"a": "1", "b": "2"}, patched.data
print("patch:", sorted(patched.data.items()))

pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="py-pod"),
    spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="busybox:1", env=[client.V1EnvVar(name="A", value="1")])]),
)
core.create_namespaced_pod(ns, pod)
smp = core.patch_namespaced_pod("py-pod", ns, {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}})
env = sorted((e.name, e.value) for e in smp.spec.containers[0].env)
assert env == [("A", "1"), ("B", "2")], env
assert smp.spec.containers[0].image == "busybox:1"
print("strategic-merge:", env)

core.delete_namespaced_config_map("py-cm", ns)
try:
    core.read_namespaced_config_map("py-cm", ns)
    raise AssertionError("deleted object still readable")
except ApiException as e:
    assert e.status == 404, e.status
print("delete: 404 after delete")

try:
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name")))
    raise AssertionError("invalid name accepted")
except ApiException as e:
    assert e.status == 422, e.status
print("invalid: 422")

watcher.join(timeout=10)
kinds = [t for (t, n) in events if n == "py-cm"]
assert kinds[:1] == ["ADDED"] and "MODIFIED" in kinds and kinds[-1] == "DELETED", events
print("watch:", kinds)
