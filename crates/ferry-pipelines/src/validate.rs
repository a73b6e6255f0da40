//! Admission checks on Tasks and Pipelines, with Tekton's messages (knative `FieldError`
//! text: `<message>: <field paths>`).

use std::collections::{BTreeMap, BTreeSet};

use ferry_types::tekton::{ParamSpec, ParamType, PipelineSpec, PipelineTask, Step, TaskSpec};

use crate::dag::{Dag, DagError};
use crate::substitution::{ParamIndex, parse_param_reference, references};

/// One admission error: a message and the fields at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub message: String,
    pub paths: Vec<String>,
}

impl FieldError {
    fn new(message: impl Into<String>, path: impl Into<String>) -> Self {
        FieldError {
            message: message.into(),
            paths: vec![path.into()],
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.paths.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.message, self.paths.join(", "))
        }
    }
}

/// All admission errors of one object, one per line as Tekton prints them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn result(errors: Vec<FieldError>) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// DNS-1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, ≤ 63.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(|b| *b != b'-')
        && bytes.last().is_some_and(|b| *b != b'-')
}

fn is_param_name(name: &str, object: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    first_ok && chars.all(|c| c == '_' || c == '-' || c.is_ascii_alphanumeric() || (!object && c == '.'))
}

fn is_result_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn validate_param_specs(params: &[ParamSpec], path: &str, errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for spec in params {
        let field = format!("{path}.params.{}", spec.name);
        if !seen.insert(spec.name.as_str()) {
            errors.push(FieldError::new(
                "parameter appears more than once",
                format!("{path}.params[{}]", spec.name),
            ));
        }
        let ty = spec.effective_type();
        if !is_param_name(&spec.name, ty == ParamType::Object) {
            errors.push(FieldError::new(
                format!("invalid key name {:?}", spec.name),
                format!("{path}.params"),
            ));
        }
        if let (Some(declared), Some(default)) = (spec.type_, &spec.default)
            && declared != default.param_type()
        {
            errors.push(FieldError {
                message: format!(
                    "{:?} type does not match default value's type: {:?}",
                    declared.as_str(),
                    default.param_type().as_str()
                ),
                paths: vec![format!("{field}.type"), format!("{field}.default.type")],
            });
        }
        if spec.type_ == Some(ParamType::Object) && spec.properties.is_none() {
            errors.push(FieldError::new(
                "missing field(s)",
                format!("{}.properties", spec.name),
            ));
        }
        if !spec.enum_.is_empty() && ty != ParamType::String {
            errors.push(FieldError::new(
                format!("enum can only be set with string type param: {}", spec.name),
                format!("{field}.enum"),
            ));
        }
    }
}

/// Where a step field sits, and whether an array/object may appear in it whole.
struct TextField<'a> {
    text: &'a str,
    path: String,
    /// `command`/`args` elements accept an isolated whole array.
    list_element: bool,
}

fn step_text_fields<'a>(step: &'a Step, path: &str) -> Vec<TextField<'a>> {
    let mut fields = vec![TextField {
        text: &step.image,
        path: format!("{path}.image"),
        list_element: false,
    }];
    for (i, c) in step.command.iter().enumerate() {
        fields.push(TextField {
            text: c,
            path: format!("{path}.command[{i}]"),
            list_element: true,
        });
    }
    for (i, a) in step.args.iter().enumerate() {
        fields.push(TextField {
            text: a,
            path: format!("{path}.args[{i}]"),
            list_element: true,
        });
    }
    if let Some(script) = &step.script {
        fields.push(TextField {
            text: script,
            path: format!("{path}.script"),
            list_element: false,
        });
    }
    if let Some(dir) = &step.working_dir {
        fields.push(TextField {
            text: dir,
            path: format!("{path}.workingDir"),
            list_element: false,
        });
    }
    for (i, e) in step.env.iter().enumerate() {
        if let Some(v) = &e.value {
            fields.push(TextField {
                text: v,
                path: format!("{path}.env[{i}].value"),
                list_element: false,
            });
        }
    }
    fields
}

fn check_param_references(
    field: &TextField<'_>,
    declared: &BTreeMap<&str, &ParamSpec>,
    allow_undeclared: bool,
    errors: &mut Vec<FieldError>,
) {
    for reference in references(field.text) {
        let Some(parsed) = parse_param_reference(reference) else {
            continue;
        };
        let variable = format!("\"$({reference})\"");
        let Some(spec) = declared.get(parsed.name) else {
            if !allow_undeclared {
                errors.push(FieldError::new(
                    format!("non-existent variable in {variable}"),
                    field.path.clone(),
                ));
            }
            continue;
        };
        let ty = spec.effective_type();
        match (&parsed.index, ty) {
            (Some(ParamIndex::Key(key)), ParamType::Object) => {
                let known = spec.properties.as_ref().is_some_and(|p| p.contains_key(*key));
                if !known {
                    errors.push(FieldError::new(
                        format!("non-existent variable in {variable}"),
                        field.path.clone(),
                    ));
                }
            }
            (None | Some(ParamIndex::Star), ParamType::Array | ParamType::Object) => {
                if !field.list_element {
                    errors.push(FieldError::new(
                        format!("variable type invalid in {variable}"),
                        field.path.clone(),
                    ));
                } else if field.text.trim() != format!("$({reference})") {
                    errors.push(FieldError::new(
                        format!("variable is not properly isolated in \"{}\"", field.text),
                        field.path.clone(),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Checks a Task spec. `allow_undeclared_params` is true for inline specs, which may use
/// params propagated from the enclosing run.
pub fn validate_task_spec(spec: &TaskSpec, allow_undeclared_params: bool) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    if spec.steps.is_empty() {
        errors.push(FieldError::new("missing field(s)", "spec.steps"));
    }
    validate_param_specs(&spec.params, "spec", &mut errors);
    let declared: BTreeMap<&str, &ParamSpec> = spec.params.iter().map(|p| (p.name.as_str(), p)).collect();
    let results: BTreeSet<&str> = spec.results.iter().map(|r| r.name.as_str()).collect();
    let mut step_names = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let path = format!("spec.steps[{i}]");
        if !step.name.is_empty() {
            if !is_dns_label(&step.name) && !step.name.contains("$(") {
                errors.push(FieldError::new(
                    format!("invalid value {:?}", step.name),
                    format!("{path}.name"),
                ));
            }
            if !step_names.insert(step.name.as_str()) {
                errors.push(FieldError::new(
                    "expected exactly one, got multiple",
                    format!("{path}.name"),
                ));
            }
        }
        if step.script.is_some() && !step.command.is_empty() {
            errors.push(FieldError::new(
                "script cannot be used with command",
                format!("{path}.script"),
            ));
        }
        if step.image.is_empty()
            && spec
                .step_template
                .as_ref()
                .and_then(|t| t.image.as_ref())
                .is_none()
        {
            errors.push(FieldError::new("missing field(s)", format!("{path}.image")));
        }
        if let Some(on_error) = &step.on_error
            && on_error != "continue"
            && on_error != "stopAndFail"
            && !on_error.contains("$(")
        {
            errors.push(FieldError::new(
                format!("invalid value: {on_error}\nTask step onError must be either \"continue\" or \"stopAndFail\""),
                format!("{path}.onError"),
            ));
        }
        if let Some(timeout) = &step.timeout
            && crate::duration::parse(timeout).is_err()
        {
            errors.push(FieldError::new(
                format!("invalid value: {timeout}"),
                format!("{path}.timeout"),
            ));
        }
        for mount in &step.volume_mounts {
            if mount.mount_path.starts_with("/tekton/") || mount.name.starts_with("tekton-internal-") {
                errors.push(FieldError::new(
                    format!(
                        "volumeMount cannot be mounted under /tekton/ (volumeMount {:?} mounted at {:?})",
                        mount.name, mount.mount_path
                    ),
                    format!("{path}.volumeMounts.mountPath"),
                ));
            }
        }
        for field in step_text_fields(step, &path) {
            check_param_references(&field, &declared, allow_undeclared_params, &mut errors);
        }
        if let Some(script) = &step.script {
            for reference in references(script) {
                if let Some(rest) = reference.strip_prefix("results.")
                    && let Some(name) = rest.strip_suffix(".path")
                    && !results.contains(name)
                {
                    errors.push(FieldError::new(
                        format!("non-existent variable in \"$({reference})\""),
                        format!("{path}.script"),
                    ));
                }
            }
        }
    }
    let mut volumes = BTreeSet::new();
    for (i, volume) in spec.volumes.iter().enumerate() {
        if !volumes.insert(volume.name.as_str()) {
            errors.push(FieldError::new(
                format!("multiple volumes with same name {:?}", volume.name),
                format!("spec.volumes[{i}].name"),
            ));
        }
    }
    let mut workspace_names = BTreeSet::new();
    let mut mount_paths = BTreeSet::new();
    for (i, ws) in spec.workspaces.iter().enumerate() {
        if !workspace_names.insert(ws.name.as_str()) {
            errors.push(FieldError::new(
                "expected exactly one, got multiple",
                format!("spec.workspaces[{i}].name"),
            ));
        }
        let mount_path = ws.effective_mount_path();
        if !mount_paths.insert(mount_path.clone()) {
            errors.push(FieldError::new(
                format!("workspace mount path {mount_path:?} must be unique"),
                format!("spec.workspaces[{i}].mountpath"),
            ));
        }
    }
    for (i, r) in spec.results.iter().enumerate() {
        if !is_result_name(&r.name) {
            errors.push(FieldError::new(
                format!("invalid key name {:?}", r.name),
                format!("spec.results[{i}].name"),
            ));
        }
    }
    result(errors)
}

const VALID_PREFIXES: [&str; 6] = ["params", "tasks", "finally", "context", "workspaces", "results"];

fn validate_pipeline_task(
    task: &PipelineTask,
    path: &str,
    in_finally: bool,
    declared: &BTreeMap<&str, &ParamSpec>,
    errors: &mut Vec<FieldError>,
) {
    if !is_dns_label(&task.name) {
        errors.push(FieldError::new(
            format!(
                "invalid value {:?}\nPipeline Task name must be a valid DNS Label.",
                task.name
            ),
            format!("{path}.name"),
        ));
    }
    match (&task.task_ref, &task.task_spec) {
        (None, None) => errors.push(FieldError {
            message: "expected exactly one, got neither".into(),
            paths: vec![format!("{path}.taskRef"), format!("{path}.taskSpec")],
        }),
        (Some(_), Some(_)) => errors.push(FieldError {
            message: "expected exactly one, got both".into(),
            paths: vec![format!("{path}.taskRef"), format!("{path}.taskSpec")],
        }),
        (None, Some(embedded)) => {
            if let Err(ValidationErrors(inner)) = validate_task_spec(&embedded.spec, true) {
                for mut e in inner {
                    e.paths = e
                        .paths
                        .iter()
                        .map(|p| format!("{path}.taskSpec.{}", p.trim_start_matches("spec.")))
                        .collect();
                    errors.push(e);
                }
            }
        }
        (Some(_), None) => {}
    }
    if in_finally && !task.run_after.is_empty() {
        errors.push(FieldError::new(
            format!(
                "invalid value: no runAfter allowed under spec.finally, final task {} has runAfter specified",
                task.name
            ),
            path.to_string(),
        ));
    }
    if let Some(retries) = task.retries
        && retries < 0
    {
        errors.push(FieldError::new(
            format!("invalid value: {retries}"),
            format!("{path}.retries"),
        ));
    }
    if task.on_error.as_deref() == Some("continue") && task.retries.unwrap_or(0) > 0 {
        errors.push(FieldError::new(
            "PipelineTask OnError cannot be set to continue when Retries is greater than 0",
            path.to_string(),
        ));
    }
    if let Some(on_error) = &task.on_error
        && on_error != "continue"
        && on_error != "stopAndFail"
    {
        errors.push(FieldError::new(
            format!("invalid value: {on_error}"),
            format!("{path}.onError"),
        ));
    }
    if let Some(timeout) = &task.timeout
        && crate::duration::parse(timeout).is_err()
    {
        errors.push(FieldError::new(
            format!("invalid value: {timeout}"),
            format!("{path}.timeout"),
        ));
    }
    for (i, when) in task.when.iter().enumerate() {
        let when_path = format!("{path}.when[{i}]");
        if when.cel.is_some() {
            continue;
        }
        if when.operator != "in" && when.operator != "notin" {
            errors.push(FieldError::new(
                format!(
                    "invalid value: operator {:?} is not recognized. valid operators: in,notin",
                    when.operator
                ),
                when_path.clone(),
            ));
        }
        if when.values.is_empty() {
            errors.push(FieldError::new(
                "invalid value: expecting non-empty values field",
                when_path,
            ));
        }
    }
    // Variables in params and when expressions.
    let mut texts: Vec<(String, &str)> = Vec::new();
    for p in &task.params {
        for s in p.value.strings() {
            texts.push((format!("{path}.params[{}]", p.name), s));
        }
    }
    if let Some(matrix) = &task.matrix {
        for p in &matrix.params {
            for s in p.value.strings() {
                texts.push((format!("{path}.matrix.params[{}]", p.name), s));
            }
        }
    }
    for (i, when) in task.when.iter().enumerate() {
        texts.push((format!("{path}.when[{i}]"), when.input.as_str()));
        for v in &when.values {
            texts.push((format!("{path}.when[{i}]"), v.as_str()));
        }
    }
    for (field, text) in texts {
        for reference in references(text) {
            let prefix = reference.split(['.', '[']).next().unwrap_or(reference);
            if !VALID_PREFIXES.contains(&prefix) {
                errors.push(FieldError::new(
                    format!("invalid value: invalid variable reference \"$({reference})\", must start with a valid prefix: params, tasks, finally, context, workspaces, or results; if you meant a shell variable, use ${{VAR}} instead"),
                    field.clone(),
                ));
                continue;
            }
            if !in_finally
                && (reference == "tasks.status"
                    || (reference.starts_with("tasks.")
                        && (reference.ends_with(".status") || reference.ends_with(".reason"))
                        && !reference.contains(".results.")))
            {
                errors.push(FieldError::new(
                    "invalid value: pipeline tasks can not refer to execution status of any other pipeline task or aggregate status of tasks",
                    field.clone(),
                ));
            }
            if let Some(parsed) = parse_param_reference(reference) {
                match declared.get(parsed.name) {
                    None => errors.push(FieldError::new(
                        format!("non-existent variable in \"$({reference})\""),
                        field.clone(),
                    )),
                    Some(spec) => {
                        if let Some(ParamIndex::Key(key)) = parsed.index
                            && spec.effective_type() == ParamType::Object
                            && !spec.properties.as_ref().is_some_and(|p| p.contains_key(key))
                        {
                            errors.push(FieldError::new(
                                format!("non-existent variable in \"$({reference})\""),
                                field.clone(),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Checks a Pipeline spec, including its graph.
pub fn validate_pipeline_spec(spec: &PipelineSpec) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    if spec.tasks.is_empty() && !spec.finally.is_empty() {
        errors.push(FieldError::new(
            format!(
                "invalid value: spec.tasks is empty but spec.finally has {} tasks",
                spec.finally.len()
            ),
            "spec.finally",
        ));
    }
    validate_param_specs(&spec.params, "spec", &mut errors);
    let declared: BTreeMap<&str, &ParamSpec> = spec.params.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut names = BTreeSet::new();
    for (i, task) in spec.tasks.iter().enumerate() {
        let path = format!("spec.tasks[{i}]");
        if !names.insert(task.name.as_str()) {
            errors.push(FieldError::new(
                "expected exactly one, got multiple",
                format!("{path}.name"),
            ));
        }
        validate_pipeline_task(task, &path, false, &declared, &mut errors);
    }
    for (i, task) in spec.finally.iter().enumerate() {
        let path = format!("spec.finally[{i}]");
        if !names.insert(task.name.as_str()) {
            errors.push(FieldError::new(
                "expected exactly one, got multiple",
                format!("{path}.name"),
            ));
        }
        validate_pipeline_task(task, &path, true, &declared, &mut errors);
    }
    match Dag::build(&spec.tasks) {
        Ok(_) => {}
        Err(e @ DagError::Cycle { .. }) | Err(e @ DagError::UnknownTask { .. }) => {
            errors.push(FieldError::new(format!("invalid value: {e}"), "spec.tasks"));
        }
    }
    let mut workspaces = BTreeSet::new();
    for (i, ws) in spec.workspaces.iter().enumerate() {
        if !workspaces.insert(ws.name.as_str()) {
            errors.push(FieldError::new(
                format!("workspace with name {:?} appears more than once", ws.name),
                format!("spec.workspaces[{i}]"),
            ));
        }
    }
    for (i, task) in spec.tasks.iter().chain(spec.finally.iter()).enumerate() {
        for binding in &task.workspaces {
            let target = if binding.workspace.is_empty() {
                &binding.name
            } else {
                &binding.workspace
            };
            if !workspaces.contains(target.as_str()) {
                errors.push(FieldError::new(
                    format!("invalid value: pipeline task {:?} expects workspace with name {:?} but none exists in pipeline spec", task.name, target),
                    format!("spec.tasks[{i}].workspaces"),
                ));
            }
        }
    }
    result(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pipeline(value: serde_json::Value) -> PipelineSpec {
        serde_json::from_value(value).expect("pipeline spec")
    }

    fn task(value: serde_json::Value) -> TaskSpec {
        serde_json::from_value(value).expect("task spec")
    }

    fn messages(result: Result<(), ValidationErrors>) -> Vec<String> {
        match result {
            Ok(()) => Vec::new(),
            Err(ValidationErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn task_errors_match_tekton() {
        let cases = [
            (json!({"steps": []}), vec!["missing field(s): spec.steps"]),
            (
                json!({"steps": [{"name": "a", "image": "x", "args": ["$(params.does-not-exist)"]}]}),
                vec!["non-existent variable in \"$(params.does-not-exist)\": spec.steps[0].args[0]"],
            ),
            (
                json!({"params": [{"name": "gitrepo", "type": "array"}], "steps": [{"image": "x", "script": "echo $(params.gitrepo)"}]}),
                vec!["variable type invalid in \"$(params.gitrepo)\": spec.steps[0].script"],
            ),
            (
                json!({"params": [{"name": "baz", "type": "array"}], "steps": [{"image": "x", "args": ["not isolated: $(params.baz[*])"]}]}),
                vec![
                    "variable is not properly isolated in \"not isolated: $(params.baz[*])\": spec.steps[0].args[0]",
                ],
            ),
            (
                json!({"params": [{"name": "o", "properties": {"a": {}}}], "steps": [{"image": "x", "script": "$(params.o.a) $(params.o.non-exist-key)"}]}),
                vec!["non-existent variable in \"$(params.o.non-exist-key)\": spec.steps[0].script"],
            ),
            (
                json!({"steps": [{"name": "s", "image": "x"}, {"name": "s", "image": "x", "script": "a", "command": ["b"]}]}),
                vec![
                    "expected exactly one, got multiple: spec.steps[1].name",
                    "script cannot be used with command: spec.steps[1].script",
                ],
            ),
            (
                json!({"params": [{"name": "p", "type": "string", "default": ["a"]}, {"name": "p"}], "steps": [{"image": "x"}]}),
                vec![
                    "\"string\" type does not match default value's type: \"array\": spec.params.p.type, spec.params.p.default.type",
                    "parameter appears more than once: spec.params[p]",
                ],
            ),
            (
                json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}], "steps": [{"image": "x"}]}),
                vec!["multiple volumes with same name \"v\": spec.volumes[1].name"],
            ),
            (
                json!({"params": [{"name": "a"}], "results": [{"name": "r"}], "steps": [{"image": "x", "script": "echo $(params.a) > $(results.r.path)"}]}),
                vec![],
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                messages(validate_task_spec(&task(spec.clone()), false)),
                expected,
                "{spec}"
            );
        }
    }

    #[test]
    fn pipeline_errors_match_tekton() {
        let t = |name: &str| json!({"name": name, "taskRef": {"name": "x"}});
        let cases = [
            (
                json!({"tasks": [{"name": "foo", "taskRef": {"name": "x"}, "runAfter": ["bar"]}, {"name": "bar", "taskRef": {"name": "x"}, "runAfter": ["foo"]}]}),
                vec!["invalid value: cycle detected; task \"bar\" depends on \"foo\": spec.tasks"],
            ),
            (
                json!({"tasks": [t("a"), t("a")]}),
                vec!["expected exactly one, got multiple: spec.tasks[1].name"],
            ),
            (
                json!({"tasks": [{"name": "Bad_Name", "taskRef": {"name": "x"}}]}),
                vec![
                    "invalid value \"Bad_Name\"\nPipeline Task name must be a valid DNS Label.: spec.tasks[0].name",
                ],
            ),
            (
                json!({"tasks": [{"name": "a"}]}),
                vec!["expected exactly one, got neither: spec.tasks[0].taskRef, spec.tasks[0].taskSpec"],
            ),
            (
                json!({"tasks": [{"name": "a", "taskRef": {"name": "x"}, "when": [{"input": "a", "operator": "exists", "values": ["b"]}, {"input": "a", "operator": "in", "values": []}]}]}),
                vec![
                    "invalid value: operator \"exists\" is not recognized. valid operators: in,notin: spec.tasks[0].when[0]",
                    "invalid value: expecting non-empty values field: spec.tasks[0].when[1]",
                ],
            ),
            (
                json!({"tasks": [{"name": "a", "taskRef": {"name": "x"}, "params": [{"name": "p", "value": "$(params.x) $(tasks.status) $(invalid_ref)"}]}]}),
                vec![
                    "non-existent variable in \"$(params.x)\": spec.tasks[0].params[p]",
                    "invalid value: pipeline tasks can not refer to execution status of any other pipeline task or aggregate status of tasks: spec.tasks[0].params[p]",
                    "invalid value: invalid variable reference \"$(invalid_ref)\", must start with a valid prefix: params, tasks, finally, context, workspaces, or results; if you meant a shell variable, use ${VAR} instead: spec.tasks[0].params[p]",
                ],
            ),
            (
                json!({"tasks": [], "finally": [t("f")]}),
                vec!["invalid value: spec.tasks is empty but spec.finally has 1 tasks: spec.finally"],
            ),
            (
                json!({"tasks": [t("a")], "finally": [{"name": "f", "taskRef": {"name": "x"}, "runAfter": ["a"], "params": [{"name": "s", "value": "$(tasks.a.status)"}]}]}),
                vec![
                    "invalid value: no runAfter allowed under spec.finally, final task f has runAfter specified: spec.finally[0]",
                ],
            ),
            (
                json!({"params": [{"name": "p"}], "tasks": [{"name": "a", "taskSpec": {"steps": [{"image": "x", "script": "echo $(params.p)"}]}, "params": [{"name": "p", "value": "$(params.p)"}]}]}),
                vec![],
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                messages(validate_pipeline_spec(&pipeline(spec.clone()))),
                expected,
                "{spec}"
            );
        }
    }
}
