//! ControllerRevisions: Kruise's revision data, hash naming, collision handling and history truncation.

use std::collections::{BTreeMap, BTreeSet};

use ferry_types::kruise::{API_VERSION, CloneSet, KIND};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Map, Value, json};

use crate::labels::{CONTROLLER_REVISION_HASH_LABEL, VCT_HASH_ANNOTATION};
use crate::podutil;

/// Longest CloneSet-name prefix kept in a revision name (Kubernetes `ControllerRevisionName`).
const MAX_REVISION_PREFIX: usize = 223;
/// Bound on collision retries; each retry changes the hash, so this is never reached in practice.
const MAX_COLLISION_RETRIES: i32 = 1000;

/// Errors while building or choosing revisions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// The CloneSet template could not be turned into JSON.
    #[error("CloneSet {cloneset}: spec.template cannot be serialized: {reason}")]
    Template {
        /// namespace/name of the CloneSet.
        cloneset: String,
        /// serde error text.
        reason: String,
    },
    /// Every hash tried collided with a different existing revision.
    #[error("CloneSet {cloneset}: no free revision name after {attempts} hash collisions")]
    Collisions {
        /// namespace/name of the CloneSet.
        cloneset: String,
        /// Attempts made.
        attempts: i32,
    },
}

/// `namespace/name` of a CloneSet for messages.
pub fn cloneset_key(cloneset: &CloneSet) -> String {
    format!(
        "{}/{}",
        cloneset.metadata.namespace.as_deref().unwrap_or_default(),
        cloneset.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Recursively sorts object keys, as Go's `json.Marshal` of a `map[string]interface{}` does.
pub fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Compact JSON with Go's HTML escaping of `<`, `>`, `&`, U+2028 and U+2029.
pub fn go_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The template JSON as Go would encode the typed struct: `metadata.creationTimestamp: null` and
/// `resources: {}` on every container are always present.
fn go_shaped_template(template: Value) -> Value {
    let mut template = match template {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let metadata = template.entry("metadata").or_insert_with(|| json!({}));
    if let Value::Object(metadata) = metadata {
        metadata.entry("creationTimestamp").or_insert(Value::Null);
    }
    let spec = template
        .entry("spec")
        .or_insert_with(|| json!({"containers": null}));
    if let Value::Object(spec) = spec {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(containers)) = spec.get_mut(list) {
                for container in containers.iter_mut() {
                    if let Value::Object(container) = container {
                        container.entry("resources").or_insert_with(|| json!({}));
                    }
                }
            }
        }
    }
    Value::Object(template)
}

/// Revision data: `{"spec":{"template":{"$patch":"replace",...}}}` with sorted keys.
pub fn revision_data(cloneset: &CloneSet) -> Result<Value, RevisionError> {
    let template = serde_json::to_value(&cloneset.spec.template).map_err(|e| RevisionError::Template {
        cloneset: cloneset_key(cloneset),
        reason: e.to_string(),
    })?;
    let mut template = go_shaped_template(template);
    if let Value::Object(map) = &mut template {
        map.insert("$patch".to_string(), json!("replace"));
    }
    Ok(sort_keys(json!({"spec": {"template": template}})))
}

/// The pod template stored in a revision (`$patch` removed), if present.
pub fn template_of(revision: &ControllerRevision) -> Option<Value> {
    let mut template = revision.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Value::Object(map) = &mut template {
        map.remove("$patch");
    }
    Some(template)
}

/// Go `hash/fnv` New32 (FNV-1, not FNV-1a).
pub fn fnv1_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 2_166_136_261;
    for byte in bytes {
        hash = hash.wrapping_mul(16_777_619);
        hash ^= u32::from(*byte);
    }
    hash
}

/// FNV-1a 32.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 2_166_136_261;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(16_777_619);
    }
    hash
}

/// Kubernetes `rand.SafeEncodeString`: maps each byte onto a 27-letter alphabet without vowels.
pub fn safe_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// Kubernetes `HashControllerRevision` with a collision count probe.
pub fn revision_hash(data_json: &str, collision_count: i32) -> String {
    let mut bytes = data_json.as_bytes().to_vec();
    bytes.extend_from_slice(collision_count.to_string().as_bytes());
    safe_encode(&fnv1_32(&bytes).to_string())
}

/// `<prefix>-<hash>` with the prefix truncated to 223 characters.
pub fn revision_name(cloneset_name: &str, hash: &str) -> String {
    let prefix: String = cloneset_name.chars().take(MAX_REVISION_PREFIX).collect();
    format!("{prefix}-{hash}")
}

/// Hash of the volumeClaimTemplates (names and specs, sorted by name); "" when there are none.
pub fn vct_hash(cloneset: &CloneSet) -> String {
    let templates = &cloneset.spec.volume_claim_templates;
    if templates.is_empty() {
        return String::new();
    }
    let mut entries: Vec<Value> = templates
        .iter()
        .map(|t| {
            json!({
                "metadata": {"name": t.metadata.name.clone().unwrap_or_default()},
                "spec": serde_json::to_value(&t.spec).unwrap_or(Value::Null)
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    fnv1a_32(go_json(&sort_keys(Value::Array(entries))).as_bytes()).to_string()
}

/// The controller owner reference every CloneSet-owned object carries.
pub fn owner_reference(cloneset: &CloneSet) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: KIND.to_string(),
        name: cloneset.metadata.name.clone().unwrap_or_default(),
        uid: cloneset.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Builds the ControllerRevision for the CloneSet's current template.
pub fn new_revision(
    cloneset: &CloneSet,
    revision_number: i64,
    collision_count: i32,
) -> Result<ControllerRevision, RevisionError> {
    let data = revision_data(cloneset)?;
    let hash = revision_hash(&go_json(&data), collision_count);
    let mut labels = cloneset
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.clone());
    let mut annotations = cloneset.metadata.annotations.clone().unwrap_or_default();
    annotations.insert(VCT_HASH_ANNOTATION.to_string(), vct_hash(cloneset));
    Ok(ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(
                cloneset.metadata.name.as_deref().unwrap_or_default(),
                &hash,
            )),
            namespace: cloneset.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(cloneset)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: revision_number,
    })
}

/// Same revision data (Kubernetes `EqualRevision` compares the raw bytes; we compare parsed JSON).
pub fn same_data(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// Sorts revisions by `.revision`, then creation time, then name (Kubernetes `SortControllerRevisions`).
pub fn sort_revisions(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let at = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let bt = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                at.cmp(&bt)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// What the reconciler must do to make the update revision exist.
#[derive(Debug, Clone, PartialEq)]
pub enum RevisionAction {
    /// The newest existing revision already holds the template.
    Reuse,
    /// An older equal revision is reused (a rollback): set its `.revision` (and VCT-hash annotation).
    Renumber {
        /// Revision name.
        name: String,
        /// New `.revision` value.
        revision: i64,
        /// Refreshed VCT-hash annotation value.
        vct_hash: String,
    },
    /// Create this ControllerRevision. On AlreadyExists with other data the reconciler bumps
    /// `status.collisionCount` and plans again.
    Create(Box<ControllerRevision>),
}

/// The outcome of revision resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedRevisions {
    /// Revision holding spec.template (as it will exist after `action`).
    pub update: ControllerRevision,
    /// Revision of status.currentRevision if it still exists, else `update`.
    pub current: ControllerRevision,
    /// What to write.
    pub action: RevisionAction,
    /// Collision count to record in status.
    pub collision_count: i32,
    /// All revisions after the action, sorted.
    pub all: Vec<ControllerRevision>,
}

/// Chooses the update and current revisions from the listed ones (reference §2.1).
pub fn resolve(
    cloneset: &CloneSet,
    listed: &[ControllerRevision],
) -> Result<ResolvedRevisions, RevisionError> {
    let mut revisions = listed.to_vec();
    sort_revisions(&mut revisions);
    let next_number = revisions.last().map_or(1, |r| r.revision + 1);
    let mut collision_count = cloneset
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let candidate = new_revision(cloneset, next_number, collision_count)?;

    let equal_positions: Vec<usize> = revisions
        .iter()
        .enumerate()
        .filter(|(_, r)| same_data(r, &candidate))
        .map(|(i, _)| i)
        .collect();
    let (update, action) = match equal_positions.last() {
        Some(&position) if position + 1 == revisions.len() => {
            (revisions[position].clone(), RevisionAction::Reuse)
        }
        Some(&position) => {
            let mut bumped = revisions[position].clone();
            bumped.revision = next_number;
            let hash = vct_hash(cloneset);
            bumped
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(VCT_HASH_ANNOTATION.to_string(), hash.clone());
            revisions[position] = bumped.clone();
            let action = RevisionAction::Renumber {
                name: bumped.metadata.name.clone().unwrap_or_default(),
                revision: next_number,
                vct_hash: hash,
            };
            (bumped, action)
        }
        None => {
            let mut created = candidate;
            let mut attempts = 0;
            while revisions.iter().any(|r| r.metadata.name == created.metadata.name) {
                attempts += 1;
                if attempts > MAX_COLLISION_RETRIES {
                    return Err(RevisionError::Collisions {
                        cloneset: cloneset_key(cloneset),
                        attempts,
                    });
                }
                collision_count += 1;
                created = new_revision(cloneset, next_number, collision_count)?;
            }
            revisions.push(created.clone());
            (created.clone(), RevisionAction::Create(Box::new(created)))
        }
    };
    sort_revisions(&mut revisions);

    let wanted_current = cloneset
        .status
        .as_ref()
        .map(|s| s.current_revision.as_str())
        .unwrap_or_default();
    let current = revisions
        .iter()
        .find(|r| !wanted_current.is_empty() && r.metadata.name.as_deref() == Some(wanted_current))
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok(ResolvedRevisions {
        update,
        current,
        action,
        collision_count,
        all: revisions,
    })
}

/// Names of revisions to delete: not current, not update, not used by any pod, beyond
/// `revisionHistoryLimit` (default 10), oldest first.
pub fn history_to_delete(
    cloneset: &CloneSet,
    sorted_revisions: &[ControllerRevision],
    current: &str,
    update: &str,
    pods: &[Pod],
) -> Vec<String> {
    let pod_revisions: BTreeSet<&str> = pods.iter().map(podutil::revision_of).collect();
    let is_live = |name: &str| {
        name == current
            || name == update
            || pod_revisions.contains(name)
            || pod_revisions
                .iter()
                .any(|r| !r.is_empty() && podutil::short_hash(r) == podutil::short_hash(name))
    };
    let history: Vec<&str> = sorted_revisions
        .iter()
        .filter_map(|r| r.metadata.name.as_deref())
        .filter(|n| !is_live(n))
        .collect();
    let limit = usize::try_from(cloneset.spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
    if history.len() <= limit {
        return Vec::new();
    }
    history[..history.len() - limit]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcs::{seed_cloneset, with_image};

    #[test]
    fn fnv_and_safe_encode_match_go() {
        // Go: fnv.New32() of "" is the offset basis; of "a" is 0x050c5d7e.
        assert_eq!(fnv1_32(b""), 2_166_136_261);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        // Digits map 0→4 1→5 2→6 3→7 4→8 5→9 6→b 7→c 8→d 9→f.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn revision_data_matches_upstream_shape() {
        let cloneset = seed_cloneset();
        let data = go_json(&revision_data(&cloneset).expect("data"));
        assert_eq!(
            data,
            r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"helloworld-server"}},"spec":{"containers":[{"image":"openkruise/kruise:hello_world-d92ae174b","name":"helloworld","resources":{}}]}}}}"#
        );
    }

    #[test]
    fn go_json_escapes_html() {
        assert_eq!(go_json(&json!({"a": "<b>&"})), r#"{"a":"\u003cb\u003e\u0026"}"#);
    }

    #[test]
    fn names_and_labels() {
        let cloneset = seed_cloneset();
        let revision = new_revision(&cloneset, 1, 0).expect("revision");
        let name = revision.metadata.name.clone().unwrap_or_default();
        let hash = revision
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
            .cloned();
        assert_eq!(Some(name.clone()), hash.map(|h| format!("helloworld-server-{h}")));
        assert!(
            name.trim_start_matches("helloworld-server-")
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
        assert_eq!(
            revision
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str),
            Some("helloworld-server")
        );
        assert_eq!(
            revision
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(VCT_HASH_ANNOTATION))
                .map(String::as_str),
            Some("")
        );
        let owner = revision
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .cloned()
            .unwrap_or_default();
        assert_eq!((owner.kind.as_str(), owner.controller), ("CloneSet", Some(true)));
        // A different collision count gives a different name; a different image too.
        let other = new_revision(&cloneset, 1, 1).expect("revision");
        assert_ne!(other.metadata.name, revision.metadata.name);
        let changed = new_revision(&with_image(&cloneset, "nginx:2"), 1, 0).expect("revision");
        assert_ne!(changed.metadata.name, revision.metadata.name);
        // Long names are truncated to 223 characters before the hash.
        assert_eq!(revision_name(&"x".repeat(300), "abc").len(), 223 + 4);
    }

    #[test]
    fn resolve_table() {
        let v1 = seed_cloneset();
        let v2 = with_image(&v1, "nginx:2");
        let rev1 = new_revision(&v1, 1, 0).expect("rev1");
        let rev2 = new_revision(&v2, 2, 0).expect("rev2");
        let name = |r: &ControllerRevision| r.metadata.name.clone().unwrap_or_default();

        // No revisions: create revision 1.
        let resolved = resolve(&v1, &[]).expect("resolve");
        assert!(
            matches!(&resolved.action, RevisionAction::Create(r) if r.revision == 1 && name(r) == name(&rev1))
        );
        assert_eq!(name(&resolved.current), name(&rev1));

        // Newest revision equal: reuse.
        let resolved = resolve(&v1, std::slice::from_ref(&rev1)).expect("resolve");
        assert_eq!(resolved.action, RevisionAction::Reuse);

        // Template changed: create revision 2; current stays at status.currentRevision.
        let mut v2_with_status = v2.clone();
        v2_with_status.status = Some(ferry_types::kruise::CloneSetStatus {
            current_revision: name(&rev1),
            ..Default::default()
        });
        let resolved = resolve(&v2_with_status, std::slice::from_ref(&rev1)).expect("resolve");
        assert!(matches!(&resolved.action, RevisionAction::Create(r) if r.revision == 2));
        assert_eq!(name(&resolved.current), name(&rev1));
        assert_eq!(name(&resolved.update), name(&rev2));

        // Rollback to an older equal revision: renumber it to 3.
        let resolved = resolve(&v1, &[rev1.clone(), rev2.clone()]).expect("resolve");
        assert_eq!(
            resolved.action,
            RevisionAction::Renumber {
                name: name(&rev1),
                revision: 3,
                vct_hash: String::new()
            }
        );
        assert_eq!(resolved.update.revision, 3);

        // Hash collision: an existing revision with the candidate's name but other data.
        let mut impostor = rev2.clone();
        impostor.metadata.name = rev1.metadata.name.clone();
        let resolved = resolve(&v1, &[impostor]).expect("resolve");
        assert_eq!(resolved.collision_count, 1);
        assert!(
            matches!(&resolved.action, RevisionAction::Create(r) if r.metadata.name != rev1.metadata.name)
        );
    }

    #[test]
    fn history_truncation_keeps_live_revisions() {
        let base = seed_cloneset();
        let mut revisions = Vec::new();
        for i in 0..6 {
            revisions.push(
                new_revision(&with_image(&base, &format!("nginx:{i}")), i64::from(i) + 1, 0).expect("rev"),
            );
        }
        let name = |i: usize| revisions[i].metadata.name.clone().unwrap_or_default();
        let mut cloneset = base.clone();
        cloneset.spec.revision_history_limit = Some(1);
        let pod = crate::podutil::testpods::PodBuilder::ready("cs-a", &name(1)).build();
        // Live: 5 (update), 4 (current), 1 (pod). History: 0, 2, 3 → keep 1 (the newest: 3).
        let deleted = history_to_delete(&cloneset, &revisions, &name(4), &name(5), &[pod]);
        assert_eq!(deleted, vec![name(0), name(2)]);
        cloneset.spec.revision_history_limit = Some(10);
        assert!(history_to_delete(&cloneset, &revisions, &name(4), &name(5), &[]).is_empty());
    }
}
