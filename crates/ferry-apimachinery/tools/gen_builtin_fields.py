#!/usr/bin/env python3
"""Generates src/protobuf/table.rs: the protobuf field table of the built-in kinds Ferry serves.

Why: kubectl's typed clients send protobuf bodies (`application/vnd.kubernetes.protobuf`), and
Kubernetes' protobuf schema (field numbers, wire types, Go marker comments such as
`+patchMergeKey`, `+listType`, `+listMapKey`) is not in k8s-openapi. It is in the `k8s-pb`
crate's prost-generated source (crates.io). This script reads that source once, joins each
message with the JSON property names of the same type in k8s-openapi (so JSON names are exact,
e.g. `podIP`, not a guess from `pod_ip`) and writes a compact static table. Neither crate is a
build dependency of Ferry.

Run from anywhere after `cargo fetch` has both crates in the registry:
    python3 crates/ferry-apimachinery/tools/gen_builtin_fields.py
"""

import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "protobuf", "table.rs")
REGISTRY = os.path.expanduser("~/.cargo/registry/src")


def one_dir(pattern):
    found = sorted(glob.glob(os.path.join(REGISTRY, "*", pattern)))
    if not found:
        sys.exit(f"{pattern} not found under {REGISTRY}: run `cargo fetch` with it as a dependency")
    return found[-1]


PB = one_dir("k8s-pb-0.9.0")
OA = os.path.join(one_dir("k8s-openapi-0.29.0"), "src", "v1_33")

# The kinds Ferry serves (protobuf-decoded for create/update), by proto package path and name.
ROOTS = [
    ("api/core/v1", n)
    for n in [
        "Namespace", "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "ServiceAccount",
        "Event", "PersistentVolumeClaim", "Node", "Binding",
    ]
] + [
    ("api/apps/v1", n)
    for n in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision"]
] + [
    ("api/batch/v1", "Job"), ("api/batch/v1", "CronJob"),
    ("api/networking/v1", "Ingress"),
    ("api/coordination/v1", "Lease"),
    ("api/events/v1", "Event"),
    ("api/autoscaling/v1", "Scale"),
    ("apimachinery/pkg/apis/meta/v1", "DeleteOptions"),
]

# Messages with a JSON form of their own (decoded specially, fields not listed).
SPECIAL = {
    "apimachinery/pkg/apis/meta/v1.Time": "Time",
    "apimachinery/pkg/apis/meta/v1.MicroTime": "MicroTime",
    "apimachinery/pkg/apis/meta/v1.Duration": "Duration",
    "apimachinery/pkg/apis/meta/v1.FieldsV1": "RawJson",
    "apimachinery/pkg/util/intstr.IntOrString": "IntOrString",
    "apimachinery/pkg/api/resource.Quantity": "Quantity",
    "apimachinery/pkg/runtime.RawExtension": "RawJson",
}

STRUCT_RE = re.compile(r"^pub struct (\w+) \{$")
ATTR_RE = re.compile(r"#\[prost\((.*)\)\]")
FIELD_RE = re.compile(r"^\s*pub (r#)?(\w+):\s*(.*),$")


def parse_pb_file(path, pkg):
    """Messages of one prost file: name -> list of field dicts (with marker comments)."""
    messages = {}
    current = None
    comments = []
    attr = None
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = STRUCT_RE.match(line)
        if m:
            current = []
            messages[m.group(1)] = current
            comments, attr = [], None
        elif line == "}":
            current = None
        elif current is not None:
            s = line.strip()
            if s.startswith("///"):
                comments.append(s[3:].strip())
            elif s.startswith("#[prost("):
                attr = ATTR_RE.search(s).group(1)
            elif s.startswith("pub ") and attr is not None:
                # A field declaration may wrap over several lines.
                decl = s
                while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                    i += 1
                    decl += lines[i].strip()
                fm = FIELD_RE.match("    " + decl)
                current.append(field_of(attr, fm.group(2), fm.group(3), comments, pkg))
                comments, attr = [], None
        i += 1
    return messages


def field_of(attr, rust_name, rust_type, comments, pkg):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    markers = {}
    for c in comments:
        mm = re.match(r"\+(patchMergeKey|patchStrategy|listType|listMapKey|mapType)=(\S+)", c)
        if mm:
            markers.setdefault(mm.group(1), []).append(mm.group(2))
    f = {"tag": tag, "rust": rust_name, "markers": markers, "card": "Single"}
    kind = attr.split(",")[0].strip()
    if kind.startswith("btree_map"):
        value = re.search(r'btree_map = "string, (\w+)"', attr).group(1)
        f["card"] = "Map"
        kind = value
        if value == "message":
            inner = re.search(r"BTreeMap<[^,]+,\s*(.*?),?>$", rust_type).group(1)
            f["msg"] = resolve(inner, pkg)
    elif "repeated" in attr:
        f["card"] = "Repeated"
    if kind.startswith("bytes"):
        kind = "bytes"
    if kind == "message" and "msg" not in f:
        mm2 = re.search(r"(?:Option|Vec)<(.*)>$", rust_type)
        if mm2 is None:
            sys.exit(f"cannot read type {rust_type!r} of {rust_name} in {pkg}")
        inner = mm2.group(1)
        f["msg"] = resolve(inner, pkg)
    f["kind"] = kind
    return f


def resolve(rust_path, pkg):
    """`super::super::x::Y` relative to package `a/b/c` -> `pkg.Y`."""
    rust_path = rust_path.replace("::prost::alloc::boxed::Box<", "").rstrip(">").strip().rstrip(",")
    parts = rust_path.split("::")
    base = pkg.split("/")
    while parts and parts[0] == "super":
        base = base[:-1]
        parts = parts[1:]
    return "/".join(base + parts[:-1]) + "." + parts[-1]


def load_pb():
    messages = {}
    for path in glob.glob(os.path.join(PB, "src", "**", "mod.rs"), recursive=True):
        pkg = os.path.relpath(os.path.dirname(path), os.path.join(PB, "src"))
        for name, fields in parse_pb_file(path, pkg).items():
            messages[f"{pkg}.{name}"] = fields
    return messages


def openapi_type(pkg, name):
    """(schema name, {normalized rust name: json name}) of the k8s-openapi type, if any."""
    d = os.path.join(OA, pkg)
    if not os.path.isdir(d):
        return None
    for path in glob.glob(os.path.join(d, "*.rs")):
        text = open(path, encoding="utf-8").read()
        m = re.search(r"impl crate::schemars::JsonSchema for (\w+) \{\s*fn schema_name\(\)[^{]*\{\s*\"([^\"]+)\"", text)
        if not m or m.group(1).lower() != name.lower():
            continue
        json_names = {}
        for jm in re.finditer(r'"(\w+)" => Field::Key_(\w+),', text):
            json_names[jm.group(2).replace("_", "").lower()] = jm.group(1)
        return m.group(2), json_names
    return None


def camel(rust):
    head, *rest = rust.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main():
    pb = load_pb()
    order = []
    seen = set()
    todo = [f"{p}.{n}" for p, n in ROOTS]
    while todo:
        full = todo.pop(0)
        if full in seen or full in SPECIAL:
            continue
        if full not in pb:
            sys.exit(f"message {full} not found in k8s-pb")
        seen.add(full)
        order.append(full)
        for f in pb[full]:
            if "msg" in f:
                todo.append(f["msg"])
    index = {full: i for i, full in enumerate(order)}

    out = []
    out.append("// @generated by tools/gen_builtin_fields.py from the k8s-pb 0.9.0 prost sources (protobuf")
    out.append("// field numbers and Go marker comments) joined with k8s-openapi 0.29 (v1_33) JSON names.")
    out.append("// Do not edit by hand; re-run the script.")
    out.append("")
    out.append("use super::{Card, Field, Message, Special, Ty};")
    out.append("")
    out.append("/// Every protobuf message reachable from the served built-in kinds.")
    out.append("pub static MESSAGES: &[Message] = &[")
    for full in order:
        pkg, name = full.rsplit(".", 1)
        oa = openapi_type(pkg, name)
        schema_name, json_names = oa if oa else ("", {})
        out.append(f"    Message {{ schema: {rust_str(schema_name)}, proto: {rust_str(full)}, fields: &[")
        for f in pb[full]:
            json = json_names.get(f["rust"].replace("_", "").lower())
            if json is None and oa and f.get("msg") in pb and any(
                g["rust"].replace("_", "").lower() in json_names for g in pb[f["msg"]]
            ):
                # A Go struct embedded with `json:",inline"`: its fields sit in the parent's JSON.
                json = ""
            elif json is None:
                # A field newer than Kubernetes 1.33: best-effort JSON name.
                json = camel(f["rust"])
            if "msg" in f:
                ty = f"Ty::Special(Special::{SPECIAL[f['msg']]})" if f["msg"] in SPECIAL else f"Ty::Message({index[f['msg']]})"
            else:
                ty = {"string": "Ty::String", "bytes": "Ty::Bytes", "bool": "Ty::Bool", "int32": "Ty::Int32",
                      "int64": "Ty::Int64", "double": "Ty::Double"}[f["kind"]]
            mk = f["markers"]
            merge_key = (mk.get("patchMergeKey") or [""])[0]
            strategy = (mk.get("patchStrategy") or [""])[0]
            list_type = (mk.get("listType") or [""])[0]
            keys = mk.get("listMapKey") or []
            keys_rs = "&[" + ", ".join(rust_str(k) for k in keys) + "]"
            out.append(
                f"        Field {{ tag: {f['tag']}, json: {rust_str(json)}, ty: {ty}, card: Card::{f['card']}, "
                f"merge_key: {rust_str(merge_key)}, strategy: {rust_str(strategy)}, list_type: {rust_str(list_type)}, map_keys: {keys_rs} }},"
            )
        out.append("    ] },")
    out.append("];")
    out.append("")
    with open(OUT, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out))
    print(f"wrote {len(order)} messages to {os.path.normpath(OUT)}")


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    main()
