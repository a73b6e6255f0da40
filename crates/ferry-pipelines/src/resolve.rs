//! Turns a TaskRun's Task into the concrete spec its steps run: params, context, result
//! paths, step exit-code paths, workspaces and credentials substituted in that order, each
//! a separate pass (so text injected by an earlier pass is expanded by a later one, as in
//! Tekton), plus `stepTemplate` merging and step naming.

use std::collections::BTreeMap;

use ferry_types::tekton::{ParamValue, Step, StepTemplate, TaskSpec};
use k8s_openapi::api::core::v1::{EnvVar, Volume, VolumeMount};

use crate::substitution::Replacements;

/// Identity of the TaskRun, for `$(context.*)`.
#[derive(Clone, Debug, Default)]
pub struct TaskRunContext {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The Task's name (`$(context.task.name)`): the taskRef name, or the TaskRun's name.
    pub task_name: String,
    /// `$(context.task.retry-count)`: how many attempts failed before this one.
    pub retry_count: usize,
}

/// A workspace as the TaskRun binds it, for `$(workspaces.<w>.*)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkspaceVariables {
    pub name: String,
    /// Mount path inside the sandbox, `""` if optional and unbound.
    pub path: String,
    pub bound: bool,
    pub claim: String,
    pub volume: String,
}

/// The name of step `index`: its own, or `unnamed-<index>` (Tekton's container is then
/// `step-unnamed-<index>`).
pub fn step_name(step: &Step, index: usize) -> String {
    if step.name.is_empty() {
        format!("unnamed-{index}")
    } else {
        step.name.clone()
    }
}

/// Where Tekton puts the results of a Task.
pub const RESULTS_DIR: &str = "/tekton/results";
/// Where Tekton exposes each step's exit code.
pub const STEPS_DIR: &str = "/tekton/steps";

/// Applies every substitution pass to a Task spec for one TaskRun.
pub fn apply_task_spec(
    spec: &TaskSpec,
    params: &BTreeMap<String, ParamValue>,
    context: &TaskRunContext,
    workspaces: &[WorkspaceVariables],
) -> TaskSpec {
    let mut passes = Vec::new();
    passes.push(crate::params::replacements(params));

    let mut ctx = Replacements::new();
    ctx.insert("context.taskRun.name", &context.name);
    ctx.insert("context.taskRun.namespace", &context.namespace);
    ctx.insert("context.taskRun.uid", &context.uid);
    ctx.insert("context.task.name", &context.task_name);
    ctx.insert("context.task.retry-count", context.retry_count.to_string());
    passes.push(ctx);

    let mut results = Replacements::new();
    for result in &spec.results {
        results.insert(
            format!("results.{}.path", result.name),
            format!("{RESULTS_DIR}/{}", result.name),
        );
        results.insert(
            format!("results[\"{}\"].path", result.name),
            format!("{RESULTS_DIR}/{}", result.name),
        );
    }
    passes.push(results);

    let mut exit_codes = Replacements::new();
    for (index, step) in spec.steps.iter().enumerate() {
        let name = step_name(step, index);
        exit_codes.insert(
            format!("steps.step-{name}.exitCode.path"),
            format!("{STEPS_DIR}/step-{name}/exitCode"),
        );
    }
    passes.push(exit_codes);

    let mut ws = Replacements::new();
    for workspace in workspaces {
        ws.insert(format!("workspaces.{}.path", workspace.name), &workspace.path);
        ws.insert(
            format!("workspaces.{}.bound", workspace.name),
            workspace.bound.to_string(),
        );
        ws.insert(format!("workspaces.{}.claim", workspace.name), &workspace.claim);
        ws.insert(format!("workspaces.{}.volume", workspace.name), &workspace.volume);
    }
    passes.push(ws);

    let mut creds = Replacements::new();
    creds.insert("credentials.path", "/tekton/creds");
    passes.push(creds);

    let mut out = spec.clone();
    for pass in &passes {
        out = apply_pass(&out, pass);
    }
    out
}

fn apply_env(pass: &Replacements, env: &[EnvVar]) -> Vec<EnvVar> {
    env.iter()
        .map(|e| EnvVar {
            name: pass.apply(&e.name),
            value: e.value.as_deref().map(|v| pass.apply(v)),
            ..e.clone()
        })
        .collect()
}

fn apply_mounts(pass: &Replacements, mounts: &[VolumeMount]) -> Vec<VolumeMount> {
    mounts
        .iter()
        .map(|m| VolumeMount {
            name: pass.apply(&m.name),
            mount_path: pass.apply(&m.mount_path),
            sub_path: m.sub_path.as_deref().map(|p| pass.apply(p)),
            ..m.clone()
        })
        .collect()
}

fn apply_volume(pass: &Replacements, volume: &Volume) -> Volume {
    let mut volume = volume.clone();
    volume.name = pass.apply(&volume.name);
    if let Some(secret) = volume.secret.as_mut() {
        secret.secret_name = secret.secret_name.as_deref().map(|n| pass.apply(n));
    }
    if let Some(config_map) = volume.config_map.as_mut() {
        config_map.name = pass.apply(&config_map.name);
    }
    if let Some(claim) = volume.persistent_volume_claim.as_mut() {
        claim.claim_name = pass.apply(&claim.claim_name);
    }
    volume
}

fn apply_step(pass: &Replacements, step: &Step) -> Step {
    Step {
        name: pass.apply(&step.name),
        image: pass.apply(&step.image),
        command: pass.apply_list(&step.command),
        args: pass.apply_list(&step.args),
        working_dir: step.working_dir.as_deref().map(|w| pass.apply(w)),
        env: apply_env(pass, &step.env),
        volume_mounts: apply_mounts(pass, &step.volume_mounts),
        script: step.script.as_deref().map(|s| pass.apply(s)),
        on_error: step.on_error.as_deref().map(|s| pass.apply(s)),
        timeout: step.timeout.as_deref().map(|s| pass.apply(s)),
        ..step.clone()
    }
}

fn apply_template(pass: &Replacements, template: &StepTemplate) -> StepTemplate {
    StepTemplate {
        image: template.image.as_deref().map(|i| pass.apply(i)),
        command: pass.apply_list(&template.command),
        args: pass.apply_list(&template.args),
        working_dir: template.working_dir.as_deref().map(|w| pass.apply(w)),
        env: apply_env(pass, &template.env),
        volume_mounts: apply_mounts(pass, &template.volume_mounts),
        ..template.clone()
    }
}

fn apply_pass(spec: &TaskSpec, pass: &Replacements) -> TaskSpec {
    if pass.is_empty() {
        return spec.clone();
    }
    TaskSpec {
        steps: spec.steps.iter().map(|s| apply_step(pass, s)).collect(),
        step_template: spec.step_template.as_ref().map(|t| apply_template(pass, t)),
        volumes: spec.volumes.iter().map(|v| apply_volume(pass, v)).collect(),
        ..spec.clone()
    }
}

/// Merges `stepTemplate` into a step: the step's own fields win; `env` and `volumeMounts`
/// are merged by name / mount path with the step's entries taking precedence.
pub fn merge_step_template(template: Option<&StepTemplate>, step: &Step) -> Step {
    let Some(template) = template else {
        return step.clone();
    };
    let mut merged = step.clone();
    if merged.image.is_empty()
        && let Some(image) = &template.image
    {
        merged.image = image.clone();
    }
    if merged.command.is_empty() && merged.script.is_none() {
        merged.command = template.command.clone();
        if merged.args.is_empty() {
            merged.args = template.args.clone();
        }
    }
    if merged.working_dir.is_none() {
        merged.working_dir = template.working_dir.clone();
    }
    if merged.compute_resources.is_none() {
        merged.compute_resources = template.compute_resources.clone();
    }
    let mut env: Vec<EnvVar> = template
        .env
        .iter()
        .filter(|t| !step.env.iter().any(|s| s.name == t.name))
        .cloned()
        .collect();
    env.extend(step.env.iter().cloned());
    merged.env = env;
    let mut env_from = template.env_from.clone();
    env_from.extend(step.env_from.iter().cloned());
    merged.env_from = env_from;
    let mut mounts: Vec<VolumeMount> = template
        .volume_mounts
        .iter()
        .filter(|t| !step.volume_mounts.iter().any(|s| s.mount_path == t.mount_path))
        .cloned()
        .collect();
    mounts.extend(step.volume_mounts.iter().cloned());
    merged.volume_mounts = mounts;
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::tekton::TaskResult;

    fn env(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    #[test]
    fn passes_run_in_order_and_expand_injected_text() {
        let spec = TaskSpec {
            results: vec![TaskResult {
                name: "out".into(),
                ..Default::default()
            }],
            steps: vec![
                Step {
                    name: "write".into(),
                    image: "alpine:$(params.tag)".into(),
                    script: Some(
                        "echo $(params.msg) > $(results.out.path); cat $(steps.step-write.exitCode.path)"
                            .into(),
                    ),
                    args: vec!["$(params.list[*])".into(), "$(workspaces.src.path)/x".into()],
                    ..Default::default()
                },
                Step {
                    script: Some(
                        "echo $(context.taskRun.name) $(context.task.retry-count) $(unknown.x)".into(),
                    ),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let params: BTreeMap<String, ParamValue> = [
            ("tag".to_string(), ParamValue::String("3".into())),
            (
                "msg".to_string(),
                ParamValue::String("$(context.taskRun.name)".into()),
            ),
            (
                "list".to_string(),
                ParamValue::Array(vec!["a".into(), "b".into()]),
            ),
        ]
        .into_iter()
        .collect();
        let ctx = TaskRunContext {
            name: "tr".into(),
            namespace: "ns".into(),
            uid: "u".into(),
            task_name: "t".into(),
            retry_count: 2,
        };
        let ws = vec![WorkspaceVariables {
            name: "src".into(),
            path: "/workspace/src".into(),
            bound: true,
            ..Default::default()
        }];
        let out = apply_task_spec(&spec, &params, &ctx, &ws);
        assert_eq!(out.steps[0].image, "alpine:3");
        assert_eq!(
            out.steps[0].script.as_deref(),
            Some("echo tr > /tekton/results/out; cat /tekton/steps/step-write/exitCode")
        );
        assert_eq!(out.steps[0].args, ["a", "b", "/workspace/src/x"]);
        assert_eq!(out.steps[1].script.as_deref(), Some("echo tr 2 $(unknown.x)"));
    }

    #[test]
    fn step_template_merges_with_step_winning() {
        let template = StepTemplate {
            image: Some("ubuntu".into()),
            env: vec![env("FOO", "template"), env("BAR", "template")],
            working_dir: Some("/w".into()),
            ..Default::default()
        };
        let step = Step {
            name: "s".into(),
            env: vec![env("FOO", "step")],
            ..Default::default()
        };
        let merged = merge_step_template(Some(&template), &step);
        assert_eq!(merged.image, "ubuntu");
        assert_eq!(merged.working_dir.as_deref(), Some("/w"));
        let env: Vec<(String, Option<String>)> = merged
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            env,
            [
                ("BAR".to_string(), Some("template".to_string())),
                ("FOO".to_string(), Some("step".to_string()))
            ]
        );
        let own_image = Step {
            image: "alpine".into(),
            ..step
        };
        assert_eq!(merge_step_template(Some(&template), &own_image).image, "alpine");
    }

    #[test]
    fn unnamed_steps_get_tekton_names() {
        assert_eq!(step_name(&Step::default(), 2), "unnamed-2");
        assert_eq!(
            step_name(
                &Step {
                    name: "x".into(),
                    ..Default::default()
                },
                0
            ),
            "x"
        );
    }
}
