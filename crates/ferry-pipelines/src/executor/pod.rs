//! TaskRun → Pod, as Tekton lays it out on a cluster (pure).
//!
//! The Pod `<taskrun>-pod` (`-pod-retry<N>` for retries) has:
//! - init container `prepare`: Ferry's binary copies itself to `/tekton/bin/entrypoint`
//!   (`ferry entrypoint init <src> /tekton/bin/entrypoint step-…`) and links
//!   `/tekton/steps/step-<name>` → `/tekton/run/<i>/status`;
//! - init container `place-scripts` (only when a step has a `script`): writes each script,
//!   base64 on its command line, to `/tekton/scripts/script-<i>-<suffix>` (mode 0755);
//! - one container per step, `step-<name>` / `step-unnamed-<i>`, in order, whose command is
//!   `/tekton/bin/entrypoint` with Tekton's flags: the step waits for `/tekton/run/<i-1>/out`,
//!   writes `/tekton/run/<i>/out` (or `out.err`), and reports results through its
//!   termination message at `/tekton/termination`;
//! - emptyDir volumes for `/tekton/{bin,scripts,run/<i>,steps,home,results}` and
//!   `/workspace`, the Task's own volumes, and one volume per bound workspace.
//!
//! Ferry's wrapper is its own binary (`ferry entrypoint`), shipped in the image
//! [`PodConfig::entrypoint_image`]. Step 0 does not wait: Ferry does not run sidecars, so
//! there is nothing to be ready for (Tekton then waits on `/tekton/downward/ready`).

use std::collections::BTreeMap;

use base64::Engine as _;
use ferry_types::tekton::v1::TaskRun;
use ferry_types::tekton::{Step, WorkspaceBinding};
use k8s_openapi::api::core::v1::{
    CSIVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EphemeralVolumeSource,
    PersistentVolumeClaimTemplate, PersistentVolumeClaimVolumeSource, Pod, PodSpec, ProjectedVolumeSource,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use crate::executor::local::{image_entrypoint, script_file_contents};
use crate::taskrun::PreparedTaskRun;

/// Where the wrapper is installed in every step container.
pub const ENTRYPOINT_BIN: &str = "/tekton/bin/entrypoint";
/// Every step's termination message file.
pub const TERMINATION_PATH: &str = "/tekton/termination";
/// Label values and annotations Tekton puts on its Pods.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "tekton-pipelines";
pub const TASK_RUN_LABEL: &str = "tekton.dev/taskRun";
pub const TASK_RUN_UID_LABEL: &str = "tekton.dev/taskRunUID";
pub const TASK_LABEL: &str = "tekton.dev/task";
pub const RELEASE_ANNOTATION: &str = "pipeline.tekton.dev/release";
pub const READY_ANNOTATION: &str = "tekton.dev/ready";
/// Name prefix of the internal volumes.
const INTERNAL: &str = "tekton-internal";
/// Fields of `podTemplate` copied onto the Pod spec as they are.
const POD_TEMPLATE_FIELDS: &[&str] = &[
    "nodeSelector",
    "tolerations",
    "affinity",
    "securityContext",
    "runtimeClassName",
    "automountServiceAccountToken",
    "dnsPolicy",
    "dnsConfig",
    "enableServiceLinks",
    "priorityClassName",
    "schedulerName",
    "imagePullSecrets",
    "hostAliases",
    "hostNetwork",
    "topologySpreadConstraints",
];

/// The image and release the Pods are built with.
#[derive(Clone, Debug, PartialEq)]
pub struct PodConfig {
    /// Image holding Ferry's binary; the init containers run it to install the wrapper.
    pub entrypoint_image: String,
    /// Path of Ferry's binary inside that image.
    pub entrypoint_binary: String,
    /// Value of the `pipeline.tekton.dev/release` annotation.
    pub release: String,
}

impl Default for PodConfig {
    fn default() -> Self {
        PodConfig {
            entrypoint_image: concat!("ghcr.io/ferry-dev/ferry:v", env!("CARGO_PKG_VERSION")).to_string(),
            entrypoint_binary: "/usr/local/bin/ferry".to_string(),
            release: concat!("ferry-v", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// A TaskRun whose Pod cannot be built; names the TaskRun and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("TaskRun {task_run:?}: {field}: {message}")]
pub struct PodBuildError {
    pub task_run: String,
    pub field: String,
    pub message: String,
}

/// The Pod name of an attempt: `<taskrun>-pod`, `<taskrun>-pod-retry<N>` after N failures.
pub fn pod_name(task_run: &str, retry: usize) -> String {
    if retry == 0 {
        crate::names::child_name(task_run, "pod")
    } else {
        crate::names::child_name(task_run, &format!("pod-retry{retry}"))
    }
}

/// `/tekton/run/<i>`: step `i`'s handshake directory.
pub fn run_dir(index: usize) -> String {
    format!("/tekton/run/{index}")
}

/// The script file of step `index`: `/tekton/scripts/script-<i>-<suffix>`, the suffix a
/// stable hash of the TaskRun and the script (Tekton draws a random one).
pub fn script_path(task_run: &str, index: usize, script: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut hash = crate::names::fnv1a(&format!("{task_run}/{index}/{script}"));
    let mut suffix = String::new();
    for _ in 0..5 {
        let digit = (hash % ALPHABET.len() as u64) as usize;
        suffix.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'x')));
        hash /= ALPHABET.len() as u64;
    }
    format!("/tekton/scripts/script-{index}-{suffix}")
}

fn internal_volume(name: &str) -> Volume {
    Volume {
        name: format!("{INTERNAL}-{name}"),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// The wrapper's arguments for step `index` (everything after `/tekton/bin/entrypoint`).
pub fn entrypoint_args(
    step: &Step,
    index: usize,
    script_file: Option<&str>,
    result_names: &[String],
    step_timeout: Option<std::time::Duration>,
) -> Vec<String> {
    let mut args = Vec::new();
    if index > 0 {
        args.push("-wait_file".to_string());
        args.push(format!("{}/out", run_dir(index - 1)));
    }
    args.push("-post_file".to_string());
    args.push(format!("{}/out", run_dir(index)));
    args.push("-termination_path".to_string());
    args.push(TERMINATION_PATH.to_string());
    args.push("-step_metadata_dir".to_string());
    args.push(format!("{}/status", run_dir(index)));
    if let Some(on_error) = step.on_error.as_deref().filter(|s| !s.is_empty()) {
        args.push("-on_error".to_string());
        args.push(on_error.to_string());
    }
    if let Some(timeout) = step_timeout.filter(|t| !t.is_zero()) {
        args.push("-timeout".to_string());
        args.push(crate::duration::format(timeout));
    }
    if !result_names.is_empty() {
        args.push("-results".to_string());
        args.push(result_names.join(","));
    }
    let command: Vec<String> = match script_file {
        Some(file) => std::iter::once(file.to_string())
            .chain(step.args.iter().cloned())
            .collect(),
        None if !step.command.is_empty() => step.command.iter().chain(step.args.iter()).cloned().collect(),
        None => image_entrypoint(&step.image, &step.args),
    };
    let mut command = command.into_iter();
    args.push("-entrypoint".to_string());
    args.push(command.next().unwrap_or_default());
    args.push("--".to_string());
    args.extend(command);
    args
}

/// The volume a workspace binding stands for, named `volume`.
fn workspace_volume(
    volume: &str,
    binding: &WorkspaceBinding,
    task_run: &str,
) -> Result<Volume, PodBuildError> {
    let field = |what: &str| format!("spec.workspaces[{}].{what}", binding.name);
    fn convert<T: serde::de::DeserializeOwned>(
        value: &Value,
        task_run: &str,
        field: String,
    ) -> Result<T, PodBuildError> {
        serde_json::from_value(value.clone()).map_err(|e| PodBuildError {
            task_run: task_run.to_string(),
            field,
            message: e.to_string(),
        })
    }
    let mut out = Volume {
        name: volume.to_string(),
        ..Default::default()
    };
    if let Some(value) = &binding.persistent_volume_claim {
        out.persistent_volume_claim = Some(convert::<PersistentVolumeClaimVolumeSource>(
            value,
            task_run,
            field("persistentVolumeClaim"),
        )?);
    } else if let Some(value) = &binding.empty_dir {
        out.empty_dir = Some(convert::<EmptyDirVolumeSource>(
            value,
            task_run,
            field("emptyDir"),
        )?);
    } else if let Some(source) = &binding.config_map {
        out.config_map = Some(source.clone());
    } else if let Some(source) = &binding.secret {
        out.secret = Some(source.clone());
    } else if let Some(value) = &binding.projected {
        out.projected = Some(convert::<ProjectedVolumeSource>(
            value,
            task_run,
            field("projected"),
        )?);
    } else if let Some(value) = &binding.csi {
        out.csi = Some(convert::<CSIVolumeSource>(value, task_run, field("csi"))?);
    } else if let Some(value) = &binding.volume_claim_template {
        // One claim per Pod, removed with it: the Kubernetes ephemeral volume is the same
        // life cycle as Tekton's per-TaskRun claim.
        let template =
            convert::<PersistentVolumeClaimTemplate>(value, task_run, field("volumeClaimTemplate"))?;
        out.ephemeral = Some(EphemeralVolumeSource {
            volume_claim_template: Some(template),
        });
    } else {
        return Err(PodBuildError {
            task_run: task_run.to_string(),
            field: field("*"),
            message: "the binding names no volume source (emptyDir, persistentVolumeClaim, configMap, secret, projected, csi or volumeClaimTemplate)".into(),
        });
    }
    Ok(out)
}

/// Builds the Pod for a prepared TaskRun (params, context and workspaces substituted,
/// `stepTemplate` merged).
pub fn build_pod(
    run: &TaskRun,
    prepared: &PreparedTaskRun,
    config: &PodConfig,
) -> Result<Pod, PodBuildError> {
    let task_run = prepared.name.as_str();
    let error = |field: String, message: String| PodBuildError {
        task_run: task_run.to_string(),
        field,
        message,
    };
    let retry = run.status.as_ref().map_or(0, |s| s.retries_status.len());
    let spec = &prepared.spec;
    let result_names: Vec<String> = spec.results.iter().map(|r| r.name.clone()).collect();
    let step_count = spec.steps.len();

    // Volumes: internal ones first, then the Task's, then workspaces.
    let mut volumes: Vec<Volume> = ["workspace", "home", "results", "steps", "scripts", "bin"]
        .iter()
        .map(|name| internal_volume(name))
        .collect();
    volumes.extend((0..step_count).map(|i| internal_volume(&format!("run-{i}"))));
    volumes.extend(spec.volumes.iter().cloned());
    let mut workspace_mounts = Vec::new();
    for declared in &spec.workspaces {
        let Some(binding) = run.spec.workspaces.iter().find(|b| b.name == declared.name) else {
            continue;
        };
        let variables = prepared.workspaces.iter().find(|w| w.name == declared.name);
        let volume_name = variables
            .map(|w| w.volume.clone())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("ws-{}", declared.name));
        volumes.push(workspace_volume(&volume_name, binding, task_run)?);
        let read_only = declared.read_only || binding.config_map.is_some() || binding.secret.is_some();
        workspace_mounts.push((
            declared.name.clone(),
            VolumeMount {
                name: volume_name,
                mount_path: declared.effective_mount_path(),
                sub_path: binding.sub_path.clone().filter(|s| !s.is_empty()),
                read_only: read_only.then_some(true),
                ..Default::default()
            },
        ));
    }

    // podTemplate: env for every step, extra volumes, and the pod-level fields above.
    let template = match &run.spec.pod_template {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(error("spec.podTemplate".into(), "must be an object".into()));
        }
    };
    let template_env: Vec<EnvVar> = match template.get("env") {
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| error("spec.podTemplate.env".into(), e.to_string()))?,
        None => Vec::new(),
    };
    if let Some(value) = template.get("volumes") {
        let extra: Vec<Volume> = serde_json::from_value(value.clone())
            .map_err(|e| error("spec.podTemplate.volumes".into(), e.to_string()))?;
        volumes.extend(extra);
    }

    // Init containers.
    let step_containers: Vec<String> = prepared.step_names.iter().map(|n| format!("step-{n}")).collect();
    let mut init_containers = vec![Container {
        name: "prepare".into(),
        image: Some(config.entrypoint_image.clone()),
        command: Some(vec![config.entrypoint_binary.clone()]),
        args: Some(
            [
                "entrypoint",
                "init",
                config.entrypoint_binary.as_str(),
                ENTRYPOINT_BIN,
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(step_containers.iter().cloned())
            .collect(),
        ),
        volume_mounts: Some(vec![
            mount(&format!("{INTERNAL}-bin"), "/tekton/bin", false),
            mount(&format!("{INTERNAL}-steps"), "/tekton/steps", false),
        ]),
        working_dir: Some("/".into()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }];
    let scripts: Vec<Option<String>> = spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            step.script
                .as_deref()
                .map(|script| script_path(task_run, i, script))
        })
        .collect();
    let encoded: Vec<String> = spec
        .steps
        .iter()
        .zip(&scripts)
        .filter_map(|(step, path)| {
            let (script, path) = (step.script.as_deref()?, path.as_deref()?);
            let body = base64::engine::general_purpose::STANDARD.encode(script_file_contents(script));
            Some(format!("{path}={body}"))
        })
        .collect();
    if !encoded.is_empty() {
        init_containers.push(Container {
            name: "place-scripts".into(),
            image: Some(config.entrypoint_image.clone()),
            command: Some(vec![config.entrypoint_binary.clone()]),
            args: Some(
                ["entrypoint", "place-scripts"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(encoded)
                    .collect(),
            ),
            volume_mounts: Some(vec![
                mount(&format!("{INTERNAL}-scripts"), "/tekton/scripts", false),
                mount(&format!("{INTERNAL}-bin"), "/tekton/bin", true),
            ]),
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            ..Default::default()
        });
    }

    // Step containers.
    let mut containers = Vec::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let container_name = step_containers
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("step-unnamed-{i}"));
        let step_timeout = match step.timeout.as_deref() {
            Some(text) => Some(
                crate::duration::parse(text)
                    .map_err(|e| error(format!("spec.steps[{i}].timeout"), e.to_string()))?,
            ),
            None => None,
        };
        let resources = match &step.compute_resources {
            Some(value) => Some(
                serde_json::from_value::<ResourceRequirements>(value.clone())
                    .map_err(|e| error(format!("spec.steps[{i}].computeResources"), e.to_string()))?,
            ),
            None => None,
        };
        let mut env: Vec<EnvVar> = template_env
            .iter()
            .filter(|t| !step.env.iter().any(|s| s.name == t.name))
            .cloned()
            .collect();
        env.extend(step.env.iter().cloned());

        let mut mounts: Vec<VolumeMount> = step.volume_mounts.clone();
        let mut implicit = vec![
            mount(&format!("{INTERNAL}-bin"), "/tekton/bin", true),
            mount(&format!("{INTERNAL}-scripts"), "/tekton/scripts", true),
        ];
        implicit.extend((0..step_count).map(|j| mount(&format!("{INTERNAL}-run-{j}"), &run_dir(j), j != i)));
        implicit.extend([
            mount(&format!("{INTERNAL}-steps"), "/tekton/steps", true),
            mount(&format!("{INTERNAL}-workspace"), "/workspace", false),
            mount(&format!("{INTERNAL}-home"), "/tekton/home", false),
            mount(&format!("{INTERNAL}-results"), "/tekton/results", false),
        ]);
        for (workspace, ws_mount) in &workspace_mounts {
            let mut ws_mount = ws_mount.clone();
            if let Some(usage) = step.workspaces.iter().find(|u| &u.name == workspace)
                && !usage.mount_path.is_empty()
            {
                ws_mount.mount_path = usage.mount_path.clone();
            }
            implicit.push(ws_mount);
        }
        for candidate in implicit {
            if !mounts.iter().any(|m| m.mount_path == candidate.mount_path) {
                mounts.push(candidate);
            }
        }
        let script_file = scripts.get(i).and_then(|s| s.as_deref());
        containers.push(Container {
            name: container_name,
            image: Some(step.image.clone()),
            command: Some(vec![ENTRYPOINT_BIN.to_string()]),
            args: Some(entrypoint_args(step, i, script_file, &result_names, step_timeout)),
            env: (!env.is_empty()).then_some(env),
            env_from: (!step.env_from.is_empty()).then(|| step.env_from.clone()),
            working_dir: step.working_dir.clone().filter(|w| !w.is_empty()),
            resources,
            volume_mounts: Some(mounts),
            termination_message_path: Some(TERMINATION_PATH.into()),
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            image_pull_policy: step
                .extra
                .get("imagePullPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
            security_context: step
                .extra
                .get("securityContext")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| error(format!("spec.steps[{i}].securityContext"), e.to_string()))?,
            ..Default::default()
        });
    }

    // Metadata: the TaskRun's labels and annotations, then Tekton's own.
    let mut labels: BTreeMap<String, String> = run.metadata.labels.clone().unwrap_or_default();
    labels.insert(TASK_RUN_LABEL.into(), task_run.to_string());
    if let Some(uid) = &run.metadata.uid {
        labels.insert(TASK_RUN_UID_LABEL.into(), uid.clone());
    }
    if let Some(task_ref) = run.spec.task_ref.as_ref().filter(|r| !r.name.is_empty()) {
        labels
            .entry(TASK_LABEL.into())
            .or_insert_with(|| task_ref.name.clone());
    }
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    let mut annotations: BTreeMap<String, String> = run.metadata.annotations.clone().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(RELEASE_ANNOTATION.into(), config.release.clone());
    annotations.insert(READY_ANNOTATION.into(), "READY".into());

    // Tekton: 1.5 × the timeout, so the kubelet stops a pod the controller lost track of.
    let active_deadline_seconds = Some(match prepared.timeout {
        Some(timeout) => (timeout.as_secs_f64() * 1.5).ceil() as i64,
        None => i64::from(i32::MAX),
    });
    let pod_spec = PodSpec {
        restart_policy: Some("Never".into()),
        service_account_name: Some(
            run.spec
                .service_account_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default".into()),
        ),
        active_deadline_seconds,
        init_containers: Some(init_containers),
        containers,
        volumes: Some(volumes),
        ..Default::default()
    };
    let pod_spec =
        apply_pod_template(pod_spec, &template).map_err(|e| error("spec.podTemplate".into(), e))?;
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(task_run, retry)),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: ferry_types::tekton::V1.to_string(),
                kind: "TaskRun".into(),
                name: task_run.to_string(),
                uid: run.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    })
}

/// Copies the pod-level fields of `podTemplate` onto the spec.
fn apply_pod_template(spec: PodSpec, template: &serde_json::Map<String, Value>) -> Result<PodSpec, String> {
    if !POD_TEMPLATE_FIELDS.iter().any(|f| template.contains_key(*f)) {
        return Ok(spec);
    }
    let mut value = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        for field in POD_TEMPLATE_FIELDS {
            if let Some(v) = template.get(*field) {
                map.insert((*field).to_string(), v.clone());
            }
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskrun::{EngineConfig, prepare};
    use ferry_types::tekton::TaskSpec;
    use serde_json::json;

    fn task_run(value: Value) -> TaskRun {
        serde_json::from_value(value).expect("taskrun")
    }

    fn build(run: &TaskRun, spec: Value) -> Result<Pod, PodBuildError> {
        let spec: TaskSpec = serde_json::from_value(spec).expect("spec");
        let prepared = prepare(run, &spec, "t", &EngineConfig::default()).expect("prepares");
        build_pod(run, &prepared, &PodConfig::default())
    }

    fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
        pod.spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == name))
            .unwrap_or_else(|| panic!("container {name}"))
    }

    fn mount_of<'a>(container: &'a Container, path: &str) -> Option<&'a VolumeMount> {
        container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == path)
    }

    fn seed_run() -> TaskRun {
        task_run(json!({
            "metadata": {"name": "pr-deploy", "namespace": "ci", "uid": "u-1",
                "labels": {"tekton.dev/pipelineRun": "pr", "tekton.dev/pipelineTask": "deploy", "tekton.dev/task": "helloworld-argocd", "app": "hello"},
                "annotations": {"sim.ferry.dev/exit-code.step-a": "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"serviceAccountName": "builder", "timeout": "10m", "params": [{"name": "app", "value": "hello"}],
                "taskRef": {"name": "helloworld-argocd"}}
        }))
    }

    fn seed_spec() -> Value {
        json!({
            "params": [{"name": "app"}],
            "results": [{"name": "digest"}, {"name": "url"}],
            "stepTemplate": {"env": [{"name": "FROM_TEMPLATE", "value": "t"}, {"name": "BOTH", "value": "template"}], "workingDir": "/workspace/src"},
            "steps": [
                {"name": "build", "image": "argoproj/argocd:latest", "command": ["sh"], "args": ["-ce", "echo $(params.app)"],
                 "env": [{"name": "BOTH", "value": "step"}],
                 "computeResources": {"limits": {"cpu": "500m"}},
                 "volumeMounts": [{"name": "argocd-secret", "mountPath": "/var/secret"}]},
                {"image": "alpine", "script": "echo hi > $(results.digest.path)", "onError": "continue", "timeout": "5s"},
                {"name": "last", "image": "bash", "args": ["-c", "true"], "onError": "stopAndFail"}
            ],
            "volumes": [{"name": "argocd-secret", "secret": {"secretName": "argosecret"}}]
        })
    }

    #[test]
    fn pod_metadata_follows_tekton() {
        let run = seed_run();
        let pod = build(&run, seed_spec()).expect("builds");
        assert_eq!(pod.metadata.name.as_deref(), Some("pr-deploy-pod"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ci"));
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let expected_labels = [
            ("tekton.dev/taskRun", "pr-deploy"),
            ("tekton.dev/taskRunUID", "u-1"),
            ("tekton.dev/task", "helloworld-argocd"),
            ("tekton.dev/pipelineRun", "pr"),
            ("tekton.dev/pipelineTask", "deploy"),
            ("app.kubernetes.io/managed-by", "tekton-pipelines"),
            ("app", "hello"),
        ];
        for (key, value) in expected_labels {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "label {key}");
        }
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations
                .get("sim.ferry.dev/exit-code.step-a")
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(
            annotations.get("tekton.dev/ready").map(String::as_str),
            Some("READY")
        );
        assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        let owner = pod.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owner.len(), 1);
        assert_eq!(
            (
                owner[0].kind.as_str(),
                owner[0].name.as_str(),
                owner[0].uid.as_str(),
                owner[0].controller
            ),
            ("TaskRun", "pr-deploy", "u-1", Some(true))
        );
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.service_account_name.as_deref(), Some("builder"));
        assert_eq!(spec.active_deadline_seconds, Some(900));
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["step-build", "step-unnamed-1", "step-last"]);
        let inits: Vec<&str> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(inits, ["prepare", "place-scripts"]);
    }

    #[test]
    fn step_containers_run_through_the_entrypoint() {
        let run = seed_run();
        let pod = build(&run, seed_spec()).expect("builds");
        let script = script_path("pr-deploy", 1, "echo hi > /tekton/results/digest");
        let cases: Vec<(&str, Vec<String>)> = vec![
            (
                "step-build",
                [
                    "-post_file",
                    "/tekton/run/0/out",
                    "-termination_path",
                    "/tekton/termination",
                    "-step_metadata_dir",
                    "/tekton/run/0/status",
                    "-results",
                    "digest,url",
                    "-entrypoint",
                    "sh",
                    "--",
                    "-ce",
                    "echo hello",
                ]
                .map(String::from)
                .to_vec(),
            ),
            (
                "step-unnamed-1",
                [
                    "-wait_file",
                    "/tekton/run/0/out",
                    "-post_file",
                    "/tekton/run/1/out",
                    "-termination_path",
                    "/tekton/termination",
                    "-step_metadata_dir",
                    "/tekton/run/1/status",
                    "-on_error",
                    "continue",
                    "-timeout",
                    "5s",
                    "-results",
                    "digest,url",
                    "-entrypoint",
                    script.as_str(),
                    "--",
                ]
                .map(String::from)
                .to_vec(),
            ),
            (
                "step-last",
                [
                    "-wait_file",
                    "/tekton/run/1/out",
                    "-post_file",
                    "/tekton/run/2/out",
                    "-termination_path",
                    "/tekton/termination",
                    "-step_metadata_dir",
                    "/tekton/run/2/status",
                    "-on_error",
                    "stopAndFail",
                    "-results",
                    "digest,url",
                    "-entrypoint",
                    "bash",
                    "--",
                    "-c",
                    "true",
                ]
                .map(String::from)
                .to_vec(),
            ),
        ];
        for (name, args) in cases {
            let c = container(&pod, name);
            assert_eq!(
                c.command.as_deref(),
                Some(&["/tekton/bin/entrypoint".to_string()][..]),
                "{name}"
            );
            assert_eq!(c.args.as_deref(), Some(&args[..]), "{name}");
            assert_eq!(c.termination_message_path.as_deref(), Some("/tekton/termination"));
            assert_eq!(
                c.termination_message_policy.as_deref(),
                Some("FallbackToLogsOnError")
            );
            assert_eq!(
                c.working_dir.as_deref(),
                Some("/workspace/src"),
                "{name}: stepTemplate workingDir"
            );
        }
        // The script reaches the init container base64-encoded, with Tekton's prologue.
        let place = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .and_then(|i| i.iter().find(|c| c.name == "place-scripts"))
            .expect("place-scripts");
        let arg = place
            .args
            .iter()
            .flatten()
            .find(|a| a.starts_with(&script))
            .expect("script arg");
        let body = arg.split_once('=').map(|(_, b)| b).unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64");
        assert_eq!(
            String::from_utf8_lossy(&decoded),
            "#!/bin/sh\nset -e\necho hi > /tekton/results/digest"
        );
        let prepare_args = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .and_then(|i| i.first())
            .and_then(|c| c.args.clone());
        assert_eq!(
            prepare_args.unwrap_or_default()[4..],
            ["step-build", "step-unnamed-1", "step-last"].map(String::from)
        );
    }

    #[test]
    fn env_resources_and_mounts() {
        let run = seed_run();
        let pod = build(&run, seed_spec()).expect("builds");
        let build_step = container(&pod, "step-build");
        let env: Vec<(String, String)> = build_step
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            env,
            [
                ("FROM_TEMPLATE".to_string(), "t".to_string()),
                ("BOTH".to_string(), "step".to_string())
            ]
        );
        let limits = build_step
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .expect("limits");
        assert_eq!(limits.get("cpu").map(|q| q.0.as_str()), Some("500m"));
        // (path, volume, read-only) for step 0 and step 1.
        let cases = [
            ("step-build", "/var/secret", "argocd-secret", false),
            ("step-build", "/tekton/run/0", "tekton-internal-run-0", false),
            ("step-build", "/tekton/run/1", "tekton-internal-run-1", true),
            ("step-unnamed-1", "/tekton/run/0", "tekton-internal-run-0", true),
            ("step-unnamed-1", "/tekton/run/1", "tekton-internal-run-1", false),
            ("step-build", "/tekton/bin", "tekton-internal-bin", true),
            ("step-build", "/tekton/scripts", "tekton-internal-scripts", true),
            ("step-build", "/tekton/results", "tekton-internal-results", false),
            ("step-build", "/tekton/home", "tekton-internal-home", false),
            ("step-build", "/workspace", "tekton-internal-workspace", false),
        ];
        for (name, path, volume, read_only) in cases {
            let m = mount_of(container(&pod, name), path).unwrap_or_else(|| panic!("{name} mounts {path}"));
            assert_eq!(
                (m.name.as_str(), m.read_only.unwrap_or(false)),
                (volume, read_only),
                "{name} {path}"
            );
        }
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let secret = volumes
            .iter()
            .find(|v| v.name == "argocd-secret")
            .expect("secret volume");
        assert_eq!(
            secret.secret.as_ref().and_then(|s| s.secret_name.as_deref()),
            Some("argosecret")
        );
        for internal in [
            "workspace",
            "home",
            "results",
            "steps",
            "scripts",
            "bin",
            "run-0",
            "run-1",
            "run-2",
        ] {
            let v = volumes
                .iter()
                .find(|v| v.name == format!("tekton-internal-{internal}"))
                .unwrap_or_else(|| panic!("volume {internal}"));
            assert!(v.empty_dir.is_some(), "{internal} is an emptyDir");
        }
    }

    #[test]
    fn workspace_bindings_become_volumes() {
        let spec = json!({
            "workspaces": [{"name": "src"}, {"name": "cfg", "mountPath": "/config"}, {"name": "creds", "readOnly": true},
                           {"name": "cache"}, {"name": "tmp"}, {"name": "unbound", "optional": true}],
            "steps": [{"name": "s", "image": "alpine", "command": ["ls"], "workspaces": [{"name": "tmp", "mountPath": "/scratch"}]}]
        });
        let run = task_run(json!({
            "metadata": {"name": "tr", "namespace": "ns"},
            "spec": {"workspaces": [
                {"name": "src", "persistentVolumeClaim": {"claimName": "source"}, "subPath": "repo"},
                {"name": "cfg", "configMap": {"name": "settings"}},
                {"name": "creds", "secret": {"secretName": "git"}},
                {"name": "cache", "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}},
                {"name": "tmp", "emptyDir": {}}
            ]}
        }));
        let pod = build(&run, spec).expect("builds");
        let step = container(&pod, "step-s");
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let volume = |name: &str| {
            volumes
                .iter()
                .find(|v| v.name == name)
                .unwrap_or_else(|| panic!("volume {name}"))
        };
        // (path, volume, sub path, read-only)
        let cases = [
            ("/workspace/src", "ws-src", Some("repo"), false),
            ("/config", "ws-cfg", None, true),
            ("/workspace/creds", "ws-creds", None, true),
            ("/workspace/cache", "ws-cache", None, false),
            ("/scratch", "ws-tmp", None, false),
        ];
        for (path, name, sub_path, read_only) in cases {
            let m = mount_of(step, path).unwrap_or_else(|| panic!("mount {path}"));
            assert_eq!(
                (
                    m.name.as_str(),
                    m.sub_path.as_deref(),
                    m.read_only.unwrap_or(false)
                ),
                (name, sub_path, read_only),
                "{path}"
            );
        }
        assert_eq!(
            volume("ws-src")
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("source")
        );
        assert_eq!(
            volume("ws-cfg").config_map.as_ref().map(|c| c.name.as_str()),
            Some("settings")
        );
        assert_eq!(
            volume("ws-creds")
                .secret
                .as_ref()
                .and_then(|s| s.secret_name.as_deref()),
            Some("git")
        );
        assert!(volume("ws-cache").ephemeral.is_some());
        assert!(volume("ws-tmp").empty_dir.is_some());
        assert!(!volumes.iter().any(|v| v.name == "ws-unbound"));
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()),
            Some("default")
        );
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.active_deadline_seconds),
            Some(5400)
        );
        let inits: Vec<&str> = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(inits, ["prepare"], "no place-scripts without scripts");
    }

    #[test]
    fn retries_pod_template_and_errors() {
        let spec = json!({"steps": [{"name": "s", "image": "alpine", "command": ["true"]}]});
        let mut run = task_run(json!({
            "metadata": {"name": "tr", "namespace": "ns"},
            "spec": {"timeout": "0s", "podTemplate": {"nodeSelector": {"disk": "ssd"}, "env": [{"name": "PROXY", "value": "p"}],
                "volumes": [{"name": "extra", "emptyDir": {}}]}}
        }));
        run.status = Some(ferry_types::tekton::v1::TaskRunStatus {
            retries_status: vec![Default::default(), Default::default()],
            ..Default::default()
        });
        let pod = build(&run, spec.clone()).expect("builds");
        assert_eq!(pod.metadata.name.as_deref(), Some("tr-pod-retry2"));
        let pod_spec = pod.spec.as_ref().expect("spec");
        assert_eq!(
            pod_spec
                .node_selector
                .as_ref()
                .and_then(|n| n.get("disk"))
                .map(String::as_str),
            Some("ssd")
        );
        assert_eq!(pod_spec.active_deadline_seconds, Some(i64::from(i32::MAX)));
        assert!(pod_spec.volumes.iter().flatten().any(|v| v.name == "extra"));
        let env = container(&pod, "step-s").env.clone().unwrap_or_default();
        assert_eq!(env.first().map(|e| e.name.as_str()), Some("PROXY"));

        let bad_resources =
            json!({"steps": [{"name": "s", "image": "a", "computeResources": {"limits": "lots"}}]});
        let run = task_run(json!({"metadata": {"name": "tr"}}));
        let err = build(&run, bad_resources).expect_err("bad resources");
        assert_eq!(err.field, "spec.steps[0].computeResources");
        assert_eq!(err.task_run, "tr");
        let bad_binding = json!({"workspaces": [{"name": "w"}], "steps": [{"name": "s", "image": "a"}]});
        let run = task_run(json!({"metadata": {"name": "tr"}, "spec": {"workspaces": [{"name": "w"}]}}));
        let err = build(&run, bad_binding).expect_err("no source");
        assert_eq!(err.field, "spec.workspaces[w].*");
    }

    #[test]
    fn image_entrypoints_fill_in_missing_commands() {
        let step = |value: Value| serde_json::from_value::<Step>(value).expect("step");
        let cases = [
            (
                json!({"image": "bash:5", "args": ["-c", "echo"]}),
                vec!["bash", "-c", "echo"],
            ),
            (json!({"image": "ubuntu"}), vec!["/bin/bash"]),
            (json!({"image": "busybox"}), vec!["sh"]),
            (
                json!({"image": "x", "command": ["a", "b"], "args": ["c"]}),
                vec!["a", "b", "c"],
            ),
        ];
        for (value, expected) in cases {
            let args = entrypoint_args(&step(value), 0, None, &[], None);
            let at = args.iter().position(|a| a == "-entrypoint").expect("-entrypoint");
            let mut command: Vec<&str> = args[at + 1..].iter().map(String::as_str).collect();
            command.retain(|a| *a != "--");
            assert_eq!(command, expected);
        }
    }
}
