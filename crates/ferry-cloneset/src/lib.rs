//! OpenKruise CloneSet semantics as pure functions: admission defaulting and validation, revisions,
//! and the reconcile planner. The kube-rs reconciler that applies plans is built on top of this.
//!
//! Entry points:
//! - [`defaults::default_cloneset`]`(obj: &mut Value, old: Option<&Value>, template_no_defaults: bool)`:
//!   the mutating-admission step for CREATE/UPDATE of `clonesets` (not `/status` or `/scale`).
//! - [`validation::validate_cloneset`]`(obj: &Value, old: Option<&Value>, pods: &dyn PodLookup)
//!   -> Vec<FieldError>`: the validating-admission step.
//! - [`plan::plan`]`(PlanInput) -> Result<Plan, PlanError>`: one reconcile round as data.
//! - [`expectations::Expectations`]: what the reconciler wrote but has not yet observed.
//!
//! Applying a [`plan::Plan`], in field order (upstream `doReconcile`):
//! 1. `revision_action`: create the ControllerRevision (on AlreadyExists with other data, bump
//!    `status.collisionCount` and plan again) or renumber it.
//! 2. `released_pods`: drop the CloneSet ownerRef; `pvcs_to_reown` / `pvcs_to_delete` (disablePVCReuse).
//! 3. `pvcs_to_create`, then `pods_to_create` in slow-start batches
//!    ([`expectations::slow_start_batches`]), each recorded as an expected creation.
//! 4. `pod_writes`: for each, the `/status` update first when `status_changed` (conditions), then the
//!    object update or [`plan::PodWrite::object_patch`] when `object_changed`.
//! 5. `pods_to_delete` (each with its instance PVCs), recorded as expected deletions.
//! 6. `events` on the CloneSet; `status` via `/status` when `write_status`; `pods_to_delete_spec` as a
//!    spec update; `revisions_to_delete`; requeue after `requeue_after_seconds`.
pub mod controller;
pub mod defaults;
pub mod diffs;
pub mod expectations;
pub mod inplace;
pub mod intstr;
pub mod labels;
pub mod plan;
pub mod pod;
pub mod podutil;
pub mod quantity;
pub mod revision;
pub mod selector;
pub mod sort;
pub mod status;
pub mod validation;

#[cfg(test)]
pub(crate) mod testcs {
    //! CloneSet fixtures for tests.

    use ferry_types::kruise::CloneSet;
    use serde_json::json;

    /// The seed's CloneSet (replicas 2, InPlaceIfPossible, partition 1), as the webhook leaves it
    /// with `TemplateNoDefaults=true`, in namespace `default`.
    pub fn seed_cloneset() -> CloneSet {
        let value = json!({
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {
                "name": "helloworld-server", "namespace": "default", "uid": "cs-uid", "generation": 1,
                "labels": {"app": "helloworld-server"}
            },
            "spec": {
                "updateStrategy": {
                    "type": "InPlaceIfPossible", "partition": 1, "maxUnavailable": "20%", "maxSurge": 0,
                    "inPlaceUpdateStrategy": {}
                },
                "replicas": 2,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "helloworld-server"}},
                "template": {
                    "metadata": {"labels": {"app": "helloworld-server"}},
                    "spec": {"containers": [{"name": "helloworld", "image": "openkruise/kruise:hello_world-d92ae174b"}]}
                }
            }
        });
        serde_json::from_value(value).unwrap_or_default()
    }

    /// A copy of `cloneset` whose first container runs `image`.
    pub fn with_image(cloneset: &CloneSet, image: &str) -> CloneSet {
        let mut copy = cloneset.clone();
        if let Some(container) = copy
            .spec
            .template
            .spec
            .as_mut()
            .and_then(|s| s.containers.first_mut())
        {
            container.image = Some(image.to_string());
        }
        copy
    }
}
