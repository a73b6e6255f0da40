use serde_json::json;

use super::convert::*;
use super::*;

#[test]
fn v1beta1_pipeline_run_converts_renamed_fields_to_v1() {
    let run = json!({
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr"},
        "spec": {
            "pipelineRef": {"name": "p"},
            "timeout": "1h30m0s",
            "serviceAccountName": "builder",
            "podTemplate": {"nodeSelector": {"a": "b"}},
            "taskRunSpecs": [{"pipelineTaskName": "t", "taskServiceAccountName": "sa2", "stepOverrides": [{"name": "s"}]}],
            "params": [{"name": "n", "value": 3}, {"name": "a", "value": ["x", "y"]}, {"name": "o", "value": {"k": "v"}}]
        },
        "status": {"pipelineResults": [{"name": "r", "value": "v"}],
                   "taskRuns": {"pr-t": {"pipelineTaskName": "t"}}}
    });
    let (v1run, version) = parse_pipeline_run(run).expect("parses");
    assert_eq!(version, ApiVersion::V1beta1);
    assert_eq!(
        v1run.spec.timeouts.as_ref().and_then(|t| t.pipeline.as_deref()),
        Some("1h30m0s")
    );
    let template = v1run.spec.task_run_template.as_ref().expect("template");
    assert_eq!(template.service_account_name.as_deref(), Some("builder"));
    assert_eq!(
        v1run.spec.task_run_specs[0].service_account_name.as_deref(),
        Some("sa2")
    );
    assert_eq!(v1run.spec.task_run_specs[0].step_specs.len(), 1);
    assert_eq!(v1run.spec.params[0].value, ParamValue::String("3".into()));
    assert_eq!(
        v1run.spec.params[1].value,
        ParamValue::Array(vec!["x".into(), "y".into()])
    );
    assert_eq!(v1run.spec.params[2].value.param_type(), ParamType::Object);
    let status = v1run.status.as_ref().expect("status");
    assert_eq!(status.results[0].name, "r");
    assert_eq!(status.child_references[0].name, "pr-t");
    assert_eq!(status.child_references[0].pipeline_task_name, "t");

    let back = render_pipeline_run(&v1run, ApiVersion::V1beta1);
    assert_eq!(back["apiVersion"], "tekton.dev/v1beta1");
    assert_eq!(back["spec"]["serviceAccountName"], "builder");
    assert_eq!(back["spec"]["taskRunSpecs"][0]["taskServiceAccountName"], "sa2");
    assert_eq!(back["status"]["pipelineResults"][0]["value"], "v");
    assert!(back["status"].get("results").is_none());
    let v1json = render_pipeline_run(&v1run, ApiVersion::V1);
    assert_eq!(v1json["spec"]["taskRunTemplate"]["serviceAccountName"], "builder");
    assert!(v1json["spec"].get("timeout").is_none());
}

#[test]
fn step_resources_and_unknown_fields_survive_a_round_trip() {
    let task = json!({
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "Task",
        "metadata": {"name": "t"},
        "spec": {
            "steps": [{"name": "s", "image": "alpine", "resources": {"limits": {"cpu": "1"}},
                       "imagePullPolicy": "Always", "securityContext": {"privileged": true}}],
            "resources": {"inputs": [{"name": "src", "type": "git"}]},
            "futureField": {"x": 1}
        }
    });
    let (v1task, _) = parse_task(task.clone()).expect("parses");
    assert_eq!(
        v1task.spec.steps[0].compute_resources,
        Some(json!({"limits": {"cpu": "1"}}))
    );
    let v1json = render_task(&v1task, ApiVersion::V1);
    assert_eq!(
        v1json["spec"]["steps"][0]["computeResources"]["limits"]["cpu"],
        "1"
    );
    assert_eq!(v1json["spec"]["futureField"]["x"], 1);
    let back = render_task(&v1task, ApiVersion::V1beta1);
    assert_eq!(back, task);
}

#[test]
fn task_run_results_are_renamed_both_ways() {
    let run = json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr"},
        "spec": {"taskRef": {"name": "t"}, "stepSpecs": [{"name": "a"}]},
        "status": {"results": [{"name": "x", "type": "string", "value": "1"}],
                   "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    });
    let (parsed, version) = parse_task_run(run.clone()).expect("parses");
    assert_eq!(version, ApiVersion::V1);
    let beta = render_task_run(&parsed, ApiVersion::V1beta1);
    assert_eq!(beta["status"]["taskResults"][0]["value"], "1");
    assert_eq!(beta["spec"]["stepOverrides"][0]["name"], "a");
    let (again, version) = parse_task_run(beta).expect("parses");
    assert_eq!(version, ApiVersion::V1beta1);
    assert_eq!(render_task_run(&again, ApiVersion::V1), run);
}

#[test]
fn bundle_task_ref_becomes_bundles_resolver() {
    let pipeline = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "Pipeline", "metadata": {"name": "p"},
        "spec": {"tasks": [{"name": "a", "taskRef": {"name": "echo", "bundle": "reg/x:1"}}]}
    });
    let (p, _) = parse_pipeline(pipeline).expect("parses");
    let task_ref = p.spec.tasks[0].task_ref.as_ref().expect("ref");
    assert_eq!(task_ref.resolver.as_deref(), Some("bundles"));
    assert_eq!(task_ref.params[0].value, ParamValue::String("reg/x:1".into()));
    assert_eq!(task_ref.params[1].value, ParamValue::String("echo".into()));
}

#[test]
fn parse_rejects_wrong_kind_and_version() {
    let err = parse_task(json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "Task"})).expect_err("rejects");
    assert!(err.to_string().contains("tekton.dev/v1alpha1"), "{err}");
    let err = parse_task(json!({"apiVersion": "tekton.dev/v1", "kind": "Pipeline"})).expect_err("rejects");
    assert!(matches!(err, ConvertError::WrongKind { .. }));
    let err = parse_task_run(
        json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "x"},
        "spec": {"params": [{"name": "p", "value": [[1]]}]}}),
    )
    .expect_err("rejects");
    assert!(err.to_string().contains("TaskRun \"x\""), "{err}");
}

#[test]
fn crds_match_tekton_names_versions_and_columns() {
    let crds = crds();
    assert_eq!(crds.len(), 4);
    let names: Vec<&str> = crds
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "tasks.tekton.dev",
            "pipelines.tekton.dev",
            "pipelineruns.tekton.dev",
            "taskruns.tekton.dev"
        ]
    );
    for crd in &crds {
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        let storage: Vec<&str> = versions
            .iter()
            .filter(|v| v["storage"] == true)
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert_eq!(storage, ["v1"]);
        assert!(
            versions
                .iter()
                .all(|v| v["served"] == true && v["subresources"]["status"] == json!({}))
        );
        assert_eq!(
            crd["spec"]["names"]["categories"],
            json!(["tekton", "tekton-pipelines"])
        );
        assert_eq!(
            crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
    }
    assert_eq!(crds[2]["spec"]["names"]["shortNames"], json!(["pr", "prs"]));
    assert_eq!(crds[3]["spec"]["names"]["shortNames"], json!(["tr", "trs"]));
    assert!(crds[0]["spec"]["names"].get("shortNames").is_none());
    let columns = crds[2]["spec"]["versions"][1]["additionalPrinterColumns"]
        .as_array()
        .expect("columns");
    let column_names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        column_names,
        ["Succeeded", "Reason", "StartTime", "CompletionTime"]
    );
    // Every CRD parses as the typed Kubernetes object.
    for crd in crds {
        let typed: Result<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            _,
        > = serde_json::from_value(crd);
        assert!(typed.is_ok(), "{typed:?}");
    }
}

#[test]
fn param_spec_type_inference_follows_tekton() {
    let cases = [
        (json!({"name": "a"}), ParamType::String),
        (json!({"name": "a", "default": ["x"]}), ParamType::Array),
        (json!({"name": "a", "default": {"k": "v"}}), ParamType::Object),
        (json!({"name": "a", "properties": {"k": {}}}), ParamType::Object),
        (
            json!({"name": "a", "type": "array", "default": "x"}),
            ParamType::Array,
        ),
        (json!({"name": "a", "default": "x"}), ParamType::String),
    ];
    for (spec, expected) in cases {
        let parsed: ParamSpec = serde_json::from_value(spec.clone()).expect("parses");
        assert_eq!(parsed.effective_type(), expected, "{spec}");
    }
}
