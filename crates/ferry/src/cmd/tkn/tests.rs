//! Table tests of the text the `tkn`-style commands print, and of the runs `start` builds.

use super::*;

fn now() -> Timestamp {
    "2024-05-01T12:10:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn run(
    name: &str,
    pipeline: &str,
    start: Option<&str>,
    end: Option<&str>,
    condition: Option<(&str, &str)>,
) -> Value {
    let mut status = serde_json::Map::new();
    if let Some(start) = start {
        status.insert("startTime".into(), json!(start));
    }
    if let Some(end) = end {
        status.insert("completionTime".into(), json!(end));
    }
    if let Some((state, reason)) = condition {
        status.insert(
            "conditions".into(),
            json!([{"type": "Succeeded", "status": state, "reason": reason, "message": "msg"}]),
        );
    }
    json!({
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": start.unwrap_or("2024-05-01T12:09:00Z"),
                     "labels": {"tekton.dev/pipeline": pipeline}},
        "spec": {"pipelineRef": {"name": pipeline}},
        "status": status,
    })
}

#[test]
fn run_lists_show_started_duration_and_status() {
    let runs = vec![
        run(
            "build-run-b",
            "build",
            Some("2024-05-01T12:05:00Z"),
            None,
            Some(("Unknown", "Running")),
        ),
        run(
            "build-run-a",
            "build",
            Some("2024-05-01T12:00:00Z"),
            Some("2024-05-01T12:01:30Z"),
            Some(("False", "StepFailed")),
        ),
    ];
    let expected = "\
NAME          STARTED          DURATION   STATUS
build-run-b   5 minutes ago    ---        Running
build-run-a   10 minutes ago   1m30s      Failed(StepFailed)
";
    assert_eq!(
        run_list_text(TektonKind::PipelineRun, &runs, false, now()),
        expected
    );
    let all = run_list_text(TektonKind::PipelineRun, &runs[..1], true, now());
    assert!(all.starts_with("NAMESPACE   NAME"), "{all}");
    assert!(all.contains("\ndefault     build-run-b"), "{all}");
    assert_eq!(
        run_list_text(TektonKind::TaskRun, &[], false, now()),
        "No TaskRuns found\n"
    );
}

#[test]
fn newest_runs_sort_first_with_unstarted_on_top() {
    let mut runs = vec![
        run("old", "p", Some("2024-05-01T11:00:00Z"), None, None),
        run("pending", "p", None, None, None),
        run("new", "p", Some("2024-05-01T12:00:00Z"), None, None),
    ];
    sort_newest_first(&mut runs);
    let names: Vec<&str> = runs.iter().map(|r| str_at(r, "/metadata/name")).collect();
    assert_eq!(names, ["pending", "new", "old"]);
}

#[test]
fn pipeline_list_shows_each_pipelines_last_run() {
    let pipelines = vec![
        json!({"metadata": {"name": "build", "namespace": "default", "creationTimestamp": "2024-05-01T11:10:00Z"}}),
        json!({"metadata": {"name": "idle", "namespace": "default", "creationTimestamp": "2024-04-28T12:10:00Z"}}),
    ];
    let runs = vec![
        run(
            "build-run-old",
            "build",
            Some("2024-05-01T11:20:00Z"),
            Some("2024-05-01T11:20:05Z"),
            Some(("False", "Failed")),
        ),
        run(
            "build-run-new",
            "build",
            Some("2024-05-01T12:05:00Z"),
            Some("2024-05-01T12:05:07Z"),
            Some(("True", "Succeeded")),
        ),
    ];
    let expected = "\
NAME    AGE          LAST RUN        STARTED         DURATION   STATUS
build   1 hour ago   build-run-new   5 minutes ago   7s         Succeeded
idle    3 days ago   ---             ---             ---        ---
";
    assert_eq!(pipeline_list_text(&pipelines, &runs, false, now()), expected);
    assert_eq!(
        pipeline_list_text(&[], &runs, false, now()),
        "No Pipelines found\n"
    );
}

#[test]
fn task_list_shows_name_description_and_age() {
    let tasks = vec![json!({
        "metadata": {"name": "deploy", "namespace": "default", "creationTimestamp": "2024-05-01T12:09:30Z"},
        "spec": {"description": "Syncs the application with argocd\nmore"}
    })];
    let expected = "\
NAME     DESCRIPTION            AGE
deploy   Syncs the applica...   30 seconds ago
";
    assert_eq!(task_list_text(&tasks, false, now()), expected);
    assert_eq!(task_list_text(&[], false, now()), "No Tasks found\n");
}

#[test]
fn pipelinerun_describe_has_tkns_sections() {
    let mut pipeline_run = run(
        "build-run-a",
        "build",
        Some("2024-05-01T12:00:00Z"),
        Some("2024-05-01T12:00:42Z"),
        Some(("False", "Failed")),
    );
    pipeline_run["spec"]["params"] =
        json!([{"name": "image", "value": "nginx"}, {"name": "list", "value": ["a", "b"]}]);
    pipeline_run["spec"]["timeouts"] = json!({"pipeline": "1h0m0s"});
    let child = json!({
        "metadata": {"name": "build-run-a-compile", "labels": {"tekton.dev/pipelineTask": "compile"}},
        "status": {"startTime": "2024-05-01T12:00:01Z", "completionTime": "2024-05-01T12:00:40Z",
                   "conditions": [{"type": "Succeeded", "status": "False", "reason": "StepFailed"}]}
    });
    let text = run_describe_text(false, TektonKind::PipelineRun, &pipeline_run, &[child], now());
    for expected in [
        "Name:              build-run-a\n",
        "Namespace:         default\n",
        "Pipeline Ref:      build\n",
        "Service Account:   default\n",
        "Labels:\n tekton.dev/pipeline=build\n",
        "Status\n\nSTARTED          DURATION   STATUS\n10 minutes ago   42s        Failed\n",
        "Message\n\nmsg\n",
        "Timeouts\n Pipeline: 1h0m0s\n",
        "Params\n\n NAME      VALUE\n ∙ image   nginx\n ∙ list    [\"a\",\"b\"]\n",
        "Taskruns\n\n NAME                    TASK NAME   STARTED         DURATION   STATUS\n \
         ∙ build-run-a-compile   compile     9 minutes ago   39s        Failed(StepFailed)\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let with_emoji = run_describe_text(true, TektonKind::PipelineRun, &pipeline_run, &[], now());
    assert!(with_emoji.contains("🌡️  Status"), "{with_emoji}");
    assert!(with_emoji.contains(" No taskruns\n"), "{with_emoji}");
}

#[test]
fn pipeline_describe_lists_params_tasks_and_runs() {
    let pipeline = json!({
        "metadata": {"name": "build", "namespace": "default"},
        "spec": {
            "params": [{"name": "image", "type": "string", "default": "nginx"}, {"name": "tags", "type": "array"}],
            "tasks": [{"name": "compile", "taskRef": {"name": "go-build"}},
                      {"name": "push", "taskSpec": {"steps": []}, "runAfter": ["compile"]}]
        }
    });
    let runs = vec![run(
        "build-run-a",
        "build",
        Some("2024-05-01T12:00:00Z"),
        Some("2024-05-01T12:00:03Z"),
        Some(("True", "Succeeded")),
    )];
    let text = definition_describe_text(false, TektonKind::Pipeline, &pipeline, &runs, now());
    for expected in [
        "Name:        build\n",
        " ∙ image   string   ---           nginx\n",
        " ∙ tags    array    ---           ---\n",
        " ∙ compile   go-build     ---        ---\n",
        " ∙ push      (embedded)   compile    ---\n",
        " ∙ build-run-a   10 minutes ago   3s         Succeeded\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

fn start_args(name: &str, params: &[&str]) -> StartArgs {
    StartArgs {
        name: name.to_string(),
        params: params.iter().map(|p| p.to_string()).collect(),
        workspaces: vec!["name=src,emptyDir=".to_string()],
        serviceaccount: Some("builder".to_string()),
        labels: vec!["team=a".to_string()],
        timeout: Some("10m".to_string()),
        prefix_name: None,
        showlog: false,
        exit_with_error: false,
        dry_run: false,
        output: None,
    }
}

#[test]
fn start_builds_runs_with_generate_name_params_and_bindings() {
    let declared: BTreeMap<String, String> = [
        ("image".to_string(), "string".to_string()),
        ("tags".to_string(), "array".to_string()),
    ]
    .into_iter()
    .collect();
    let pipeline_run = build_run(
        TektonKind::Pipeline,
        "build",
        "ci",
        &start_args("build", &["image=nginx:1.25", "tags=a,b"]),
        &declared,
    )
    .unwrap_or_default();
    assert_eq!(
        pipeline_run,
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"generateName": "build-run-", "namespace": "ci", "labels": {"team": "a"}},
            "spec": {
                "pipelineRef": {"name": "build"},
                "params": [{"name": "image", "value": "nginx:1.25"}, {"name": "tags", "value": ["a", "b"]}],
                "workspaces": [{"name": "src", "emptyDir": {}}],
                "taskRunTemplate": {"serviceAccountName": "builder"},
                "timeouts": {"pipeline": "10m"}
            }
        })
    );
    let task_run = build_run(
        TektonKind::Task,
        "echo",
        "ci",
        &start_args("echo", &[]),
        &BTreeMap::new(),
    )
    .unwrap_or_default();
    assert_eq!(task_run["kind"], "TaskRun");
    assert_eq!(task_run["spec"]["taskRef"]["name"], "echo");
    assert_eq!(task_run["spec"]["serviceAccountName"], "builder");
    assert_eq!(task_run["spec"]["timeout"], "10m");
    let unknown = build_run(
        TektonKind::Pipeline,
        "build",
        "ci",
        &start_args("build", &["nope=1"]),
        &declared,
    );
    assert!(
        unknown.is_err_and(|e| e.to_string() == "param 'nope' not present in spec"),
        "an undeclared param is refused"
    );
}

#[test]
fn logs_dir_prefers_the_data_dir_then_the_kubeconfigs_directory() {
    let cases = [
        (Some("/d"), Some("/k/kubeconfig"), vec!["/d/logs", "/k/logs"]),
        (None, Some("/k/kubeconfig"), vec!["/k/logs"]),
        (None, Some("kubeconfig"), vec!["./logs"]),
        (None, None, vec![]),
    ];
    for (data_dir, kubeconfig, expected) in cases {
        let got = logs_dir_candidates(data_dir.map(Path::new), kubeconfig.map(Path::new));
        let expected: Vec<PathBuf> = expected.into_iter().map(PathBuf::from).collect();
        assert_eq!(got, expected, "{data_dir:?} {kubeconfig:?}");
    }
}

#[test]
fn cancel_uses_each_kinds_status_value() {
    assert_eq!(cancel_status(TektonKind::PipelineRun), "Cancelled");
    assert_eq!(cancel_status(TektonKind::TaskRun), "TaskRunCancelled");
}

#[test]
fn step_status_reads_the_container_state() {
    let cases = [
        (
            json!({"terminated": {"reason": "Completed", "exitCode": 0}}),
            "Completed",
        ),
        (json!({"terminated": {"reason": "Error", "exitCode": 1}}), "Error"),
        (json!({"running": {}}), "Running"),
        (
            json!({"waiting": {"reason": "PodInitializing"}}),
            "PodInitializing",
        ),
        (json!({}), "---"),
    ];
    for (step, expected) in cases {
        assert_eq!(step_status(&step), expected, "{step}");
    }
}

#[test]
fn describe_reads_v1beta1_shaped_runs() {
    let v1beta1_run = json!({
        "metadata": {"name": "legacy", "namespace": "ci"},
        "spec": {"pipelineRef": {"name": "build"}, "serviceAccountName": "deployer", "timeout": "30m"},
        "status": {"pipelineResults": [{"name": "digest", "value": "sha256:abc\n"}]}
    });
    let text = run_describe_text(false, TektonKind::PipelineRun, &v1beta1_run, &[], now());
    for expected in [
        "Service Account:   deployer\n",
        "Timeouts\n Pipeline: 30m\n",
        "Results\n\n NAME       VALUE\n ∙ digest   sha256:abc\n",
        "STARTED   DURATION   STATUS\n---       ---        ---\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let task_run = json!({
        "metadata": {"name": "tr", "namespace": "ci", "labels": {"tekton.dev/task": "greet"}},
        "spec": {"taskRef": {"name": "greet"}},
        "status": {"steps": [{"name": "say", "terminated": {"reason": "Completed", "exitCode": 0}}]}
    });
    let text = run_describe_text(false, TektonKind::TaskRun, &task_run, &[], now());
    assert!(text.contains("Task Ref:          greet\n"), "{text}");
    assert!(
        text.contains("Steps\n\n NAME    STATUS\n ∙ say   Completed\n"),
        "{text}"
    );
}

#[test]
fn tkn_command_line_is_consistent_and_parses_tkn_habits() {
    use clap::CommandFactory;
    TknCli::command().debug_assert();
    let parsed = TknCli::try_parse_from(["tkn", "pr", "logs", "-f", "run-1", "-n", "ci", "-t", "a,b"]);
    let Ok(TknCli {
        command:
            TknCommand::Pipelinerun(PipelineRunArgs {
                global,
                command: PipelineRunCommand::Logs(logs),
            }),
    }) = parsed
    else {
        panic!("`tkn pr logs -f run-1 -n ci` did not parse as pipelinerun logs: {parsed:?}");
    };
    assert_eq!(global.namespace.as_deref(), Some("ci"));
    assert_eq!(
        (logs.name.as_deref(), logs.follow, logs.tasks),
        (Some("run-1"), true, vec!["a".to_string(), "b".to_string()])
    );
    let start = TknCli::try_parse_from([
        "tkn",
        "p",
        "start",
        "build",
        "-p",
        "a=1",
        "-p",
        "b=2",
        "--showlog",
    ]);
    assert!(
        matches!(&start, Ok(TknCli { command: TknCommand::Pipeline(PipelineArgs { command: PipelineCommand::Start(s), .. }) })
            if s.params == ["a=1", "b=2"] && s.showlog),
        "{start:?}"
    );
    assert!(TknCli::try_parse_from(["tkn", "tr", "ls", "-A", "-o", "yaml"]).is_ok());
}

#[test]
fn task_describe_lists_steps_and_taskruns() {
    let task = json!({
        "metadata": {"name": "greet", "namespace": "default"},
        "spec": {"description": "Says hello", "params": [{"name": "greeting", "default": "hi"}],
                 "steps": [{"name": "say"}, {"image": "alpine"}]}
    });
    let task_run = json!({
        "metadata": {"name": "greet-run-x", "namespace": "default"},
        "spec": {"taskRef": {"name": "greet"}},
        "status": {"startTime": "2024-05-01T12:09:58Z", "completionTime": "2024-05-01T12:10:00Z",
                   "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    });
    let text = definition_describe_text(false, TektonKind::Task, &task, &[task_run], now());
    for expected in [
        "Description: Says hello\n",
        " ∙ greeting   string   ---           hi\n",
        "Steps\n\n ∙ say\n ∙ unnamed-1\n",
        "TaskRuns\n\n NAME            STARTED         DURATION   STATUS\n ∙ greet-run-x   2 seconds ago   2s         Succeeded\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("Tasks\n"), "{text}");
    let empty = definition_describe_text(false, TektonKind::Task, &task, &[], now());
    assert!(empty.contains(" No taskruns\n"), "{empty}");
}
