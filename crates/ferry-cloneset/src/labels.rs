//! Label, annotation and condition names Kruise puts on pods and revisions.

/// Pod label: name of the ControllerRevision the pod was built from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// Pod label: the short hash (last `-` segment of the revision name).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Pod and PVC label: the 5-character instance id.
pub const INSTANCE_ID_LABEL: &str = "apps.kruise.io/cloneset-instance-id";
/// Pod label: lifecycle state (PreparingNormal, Normal, PreparingUpdate, Updating, Updated, PreparingDelete).
pub const LIFECYCLE_STATE_LABEL: &str = "lifecycle.apps.kruise.io/state";
/// Pod annotation: RFC 3339 time of the last lifecycle transition.
pub const LIFECYCLE_TIMESTAMP_ANNOTATION: &str = "lifecycle.apps.kruise.io/timestamp";
/// Pod label: present (any value) when the pod must be deleted.
pub const SPECIFIED_DELETE_LABEL: &str = "apps.kruise.io/specified-delete";
/// Pod annotation: JSON record of an in-place update in progress.
pub const INPLACE_UPDATE_STATE_ANNOTATION: &str = "apps.kruise.io/inplace-update-state";
/// Old key of the in-place state annotation, still read.
pub const INPLACE_UPDATE_STATE_ANNOTATION_OLD: &str = "inplace-update-state";
/// Pod annotation: a pending in-place update waiting for its grace period.
pub const INPLACE_UPDATE_GRACE_ANNOTATION: &str = "apps.kruise.io/inplace-update-grace";
/// Old key of the grace annotation, still read.
pub const INPLACE_UPDATE_GRACE_ANNOTATION_OLD: &str = "inplace-update-grace";
/// Pod annotation: deletion cost (lower goes first on scale-in).
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
/// ControllerRevision label: the revision hash.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// ControllerRevision annotation: hash of the volumeClaimTemplates.
pub const VCT_HASH_ANNOTATION: &str = "kruise.io/cloneset-volumeclaimtemplate-hash";
/// CloneSet label: scale arithmetic ignores PreparingDelete pods when "true".
pub const SCALING_EXCLUDE_PREPARING_DELETE_LABEL: &str =
    "apps.kruise.io/cloneset-scaling-exclude-preparing-delete";

/// Pod readiness gate and condition set by the in-place update protocol.
pub const INPLACE_UPDATE_READY: &str = "InPlaceUpdateReady";
/// Pod readiness gate and condition used by lifecycle hooks with `markPodNotReady`.
pub const KRUISE_POD_READY: &str = "KruisePodReady";

/// Lifecycle state names.
pub mod state {
    /// Just created, waiting for the preNormal hook (or for scheduling).
    pub const PREPARING_NORMAL: &str = "PreparingNormal";
    /// Serving.
    pub const NORMAL: &str = "Normal";
    /// Waiting for the inPlaceUpdate hook before an in-place update.
    pub const PREPARING_UPDATE: &str = "PreparingUpdate";
    /// In-place update in progress.
    pub const UPDATING: &str = "Updating";
    /// In-place update done, waiting for the hook to come back.
    pub const UPDATED: &str = "Updated";
    /// Waiting for the preDelete hook before deletion.
    pub const PREPARING_DELETE: &str = "PreparingDelete";
}
