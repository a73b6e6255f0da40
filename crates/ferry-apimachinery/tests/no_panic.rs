//! Robustness: every entry point accepts arbitrary (seeded, pseudo-random) JSON and text without
//! panicking. The generator is biased towards the keys and directives the functions look at.

use ferry_apimachinery::apply::{ApplyRequest, server_side_apply};
use ferry_apimachinery::defaults::apply_defaults;
use ferry_apimachinery::managed_fields::{UpdateOp, update_managed_fields};
use ferry_apimachinery::names::SplitMix64;
use ferry_apimachinery::patch::{json_merge_patch, json_patch, strategic_merge_patch};
use ferry_apimachinery::schema::{FieldValidation, process_custom_resource};
use ferry_apimachinery::selector::{FieldSelector, LabelSelector};
use ferry_apimachinery::table::{IncludeObject, jsonpath, to_table};
use ferry_apimachinery::typeinfo::Shape;
use ferry_apimachinery::validation::validate_builtin;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "containers",
    "initContainers",
    "env",
    "ports",
    "name",
    "image",
    "containerPort",
    "protocol",
    "port",
    "labels",
    "annotations",
    "finalizers",
    "managedFields",
    "data",
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "pattern",
    "additionalProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$deleteFromPrimitiveList/finalizers",
    "op",
    "path",
    "value",
    "from",
    "replicas",
    "strategy",
    "conditions",
    "status",
    "minimum",
    "maxItems",
    "fieldsV1",
    "f:data",
    "operation",
    "manager",
    "creationTimestamp",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "values",
];
const STRINGS: &[&str] = &[
    "",
    "a",
    "web",
    "replace",
    "delete",
    "merge",
    "map",
    "set",
    "atomic",
    "object",
    "array",
    "string",
    "integer",
    "/spec/x",
    "/metadata/labels/a",
    "add",
    "remove",
    "move",
    "copy",
    "test",
    "Apply",
    "Update",
    "In",
    "Exists",
    "2026-11-30T12:00:00Z",
    "nginx:1",
    "TCP",
    "^a+$",
    "(",
    "-",
    "~1",
    "name",
    "ClusterIP",
    "None",
];

fn random_json(rng: &mut SplitMix64, depth: u32) -> Value {
    let pick = |rng: &mut SplitMix64, n: usize| (rng.next_u64() % n as u64) as usize;
    match pick(rng, if depth == 0 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.next_u64().is_multiple_of(2)),
        2 => json!((rng.next_u64() % 200) as i64 - 50),
        3 => json!(1.5),
        4 => Value::String(STRINGS[pick(rng, STRINGS.len())].to_string()),
        5 | 6 => {
            let mut m = Map::new();
            for _ in 0..pick(rng, 5) {
                m.insert(
                    KEYS[pick(rng, KEYS.len())].to_string(),
                    random_json(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
        _ => Value::Array((0..pick(rng, 4)).map(|_| random_json(rng, depth - 1)).collect()),
    }
}

fn text(rng: &mut SplitMix64) -> String {
    const PIECES: &[&str] = &[
        "a",
        "=",
        "==",
        "!=",
        "!",
        " in ",
        " notin ",
        "(",
        ")",
        ",",
        "b",
        "x/y",
        "\\",
        "\\,",
        ".",
        "[",
        "]",
        "?(@.a==\"b\")",
        "*",
        "'",
        "0",
        "-1",
        " ",
        "é",
        ">",
        "<",
    ];
    let n = (rng.next_u64() % 8) as usize;
    (0..n)
        .map(|_| PIECES[(rng.next_u64() % PIECES.len() as u64) as usize])
        .collect()
}

#[test]
fn arbitrary_input_never_panics() {
    let mut rng = SplitMix64(0x5eed);
    let kinds = [
        ("", "Pod"),
        ("", "Service"),
        ("apps", "Deployment"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("", "ConfigMap"),
        ("", "Event"),
        ("", "Node"),
        ("x.io", "Thing"),
    ];
    for i in 0..1500 {
        let a = random_json(&mut rng, 4);
        let b = random_json(&mut rng, 4);
        let (group, kind) = kinds[i % kinds.len()];
        let shape = Shape::for_builtin(group, kind);

        let _ = strategic_merge_patch(&a, &b, shape);
        let mut t = a.clone();
        json_merge_patch(&mut t, &b);
        let _ = json_patch(&a, &b);
        let _ = json_patch(&a, &json!([b.clone()]));

        let applied = server_side_apply(ApplyRequest {
            live: Some(&a),
            applied: &b,
            manager: "m",
            force: i.is_multiple_of(2),
            api_version: "v1",
            subresource: "",
            time: "t",
            shape: Shape::for_schema(&a),
        });
        if let Ok(obj) = applied {
            let _ = server_side_apply(ApplyRequest {
                live: Some(&obj),
                applied: &a,
                manager: "n",
                force: false,
                api_version: "v1",
                subresource: "",
                time: "t",
                shape,
            });
        }
        let mut new = b.clone();
        let _ = update_managed_fields(
            Some(&a),
            &mut new,
            UpdateOp {
                manager: "u",
                api_version: "v1",
                subresource: "",
                time: "t",
            },
            shape,
        );

        let mut d = a.clone();
        apply_defaults(group, "v1", kind, &mut d);
        let _ = validate_builtin(group, kind, &d);
        let _ = validate_builtin(group, kind, &b);
        let mut cr = b.clone();
        let _ = process_custom_resource(&mut cr, &a, FieldValidation::Strict);
        let _ = to_table(
            group,
            kind,
            &[a.clone(), b.clone()],
            a.get("items").and_then(Value::as_array).map(Vec::as_slice),
            json!({}),
            IncludeObject::Object,
            0,
        );

        let s = text(&mut rng);
        let _ = LabelSelector::parse(&s).map(|sel| sel.matches_object(&a));
        let _ = FieldSelector::parse(&s).map(|sel| sel.matches_object(&a));
        let _ = LabelSelector::from_label_selector(&a);
        let _ = jsonpath(&a, &s);
    }
}
