//! The PipelineRun state machine driven to completion with simulated TaskRuns.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_pipelines::conditions;
use ferry_pipelines::pipelinerun::{PipelineRunInput, PipelineRunPlan, PipelineSource, reconcile};
use ferry_pipelines::taskrun::EngineConfig;
use ferry_types::tekton::convert::{parse_pipeline, parse_pipeline_run, parse_task};
use ferry_types::tekton::v1::{PipelineRun, TaskRun, TaskRunStatus};
use ferry_types::tekton::{ParamValue, RunResult, TaskSpec};
use jiff::Timestamp;

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("yaml")
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + second).expect("valid")
}

/// How a simulated TaskRun ends.
enum Outcome {
    Succeed(Vec<(&'static str, ParamValue)>),
    Fail,
    /// Stays running forever.
    Hang,
}

struct World {
    run: PipelineRun,
    pipeline: PipelineSource,
    tasks: BTreeMap<String, TaskSpec>,
    children: Vec<TaskRun>,
    plans: Vec<PipelineRunPlan>,
}

impl World {
    fn new(run: &str, pipeline: Option<&str>, tasks: &[&str]) -> World {
        let (run, _) = parse_pipeline_run(yaml(run)).expect("run");
        let pipeline = match (pipeline, &run.spec.pipeline_spec) {
            (Some(p), _) => {
                let (p, _) = parse_pipeline(yaml(p)).expect("pipeline");
                PipelineSource::Found { name: p.metadata.name.clone(), spec: Box::new(p.spec) }
            }
            (None, Some(spec)) => PipelineSource::Found { name: None, spec: Box::new(spec.clone()) },
            (None, None) => PipelineSource::NotFound { message: "Error retrieving pipeline for pipelinerun default/x: pipelines.tekton.dev \"p\" not found".into() },
        };
        let tasks = tasks
            .iter()
            .map(|t| {
                let (task, _) = parse_task(yaml(t)).expect("task");
                (task.metadata.name.clone().unwrap_or_default(), task.spec)
            })
            .collect();
        World {
            run,
            pipeline,
            tasks,
            children: Vec::new(),
            plans: Vec::new(),
        }
    }

    fn step(&mut self, now: Timestamp, config: &EngineConfig) -> PipelineRunPlan {
        let input = PipelineRunInput {
            run: &self.run,
            pipeline: self.pipeline.clone(),
            tasks: &self.tasks,
            children: &self.children,
            now,
        };
        let plan = reconcile(&input, config);
        self.run.status = Some(plan.status.clone());
        self.children.extend(plan.create.iter().cloned());
        for cancel in &plan.cancel {
            if let Some(child) = self
                .children
                .iter_mut()
                .find(|c| c.metadata.name.as_deref() == Some(cancel.name.as_str()))
            {
                let mut status = child.status.clone().unwrap_or_default();
                conditions::set_succeeded(
                    &mut status.conditions,
                    conditions::succeeded("False", "TaskRunCancelled", cancel.message.clone(), now),
                );
                child.status = Some(status);
            }
        }
        self.plans.push(plan.clone());
        plan
    }

    /// Runs until the PipelineRun is done; `outcome` decides each TaskRun's fate.
    fn run_to_end(&mut self, config: &EngineConfig, outcome: impl Fn(&TaskRun) -> Outcome) -> &PipelineRun {
        for second in 0..50 {
            let now = at(second);
            self.step(now, config);
            if conditions::is_done(
                &self
                    .run
                    .status
                    .as_ref()
                    .map(|s| s.conditions.clone())
                    .unwrap_or_default(),
            ) {
                break;
            }
            for child in self.children.iter_mut() {
                if child
                    .status
                    .as_ref()
                    .is_some_and(|s| conditions::is_done(&s.conditions))
                {
                    continue;
                }
                let mut status = TaskRunStatus::default();
                match outcome(child) {
                    Outcome::Succeed(results) => {
                        status.results = results
                            .into_iter()
                            .map(|(n, v)| RunResult {
                                name: n.into(),
                                type_: None,
                                value: v,
                            })
                            .collect();
                        conditions::set_succeeded(
                            &mut status.conditions,
                            conditions::succeeded(
                                "True",
                                "Succeeded",
                                "All Steps have completed executing",
                                now,
                            ),
                        );
                    }
                    Outcome::Fail => conditions::set_succeeded(
                        &mut status.conditions,
                        conditions::succeeded(
                            "False",
                            "StepFailed",
                            "\"step-x\" exited with code 1: Error",
                            now,
                        ),
                    ),
                    Outcome::Hang => conditions::set_succeeded(
                        &mut status.conditions,
                        conditions::succeeded("Unknown", "Running", "", now),
                    ),
                }
                child.status = Some(status);
            }
        }
        &self.run
    }

    fn condition(&self) -> (String, String, String) {
        let c = self
            .run
            .status
            .as_ref()
            .and_then(|s| s.succeeded())
            .expect("condition");
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    }

    fn child(&self, task: &str) -> &TaskRun {
        self.children
            .iter()
            .find(|c| {
                c.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("tekton.dev/pipelineTask"))
                    .map(String::as_str)
                    == Some(task)
            })
            .unwrap_or_else(|| panic!("no child for {task}"))
    }

    fn param(&self, task: &str, name: &str) -> ParamValue {
        self.child(task)
            .spec
            .params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.clone())
            .expect("param")
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.run
            .status
            .iter()
            .flat_map(|s| s.skipped_tasks.iter())
            .map(|s| (s.name.clone(), s.reason.clone()))
            .collect()
    }
}

fn s(text: &str) -> ParamValue {
    ParamValue::String(text.into())
}

fn task_name(child: &TaskRun) -> &str {
    child
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("tekton.dev/pipelineTask"))
        .map(String::as_str)
        .unwrap_or_default()
}

const RESULTS_PIPELINE: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr, namespace: ns, uid: u-1}
spec:
  params: [{name: word, value: hello}]
  pipelineSpec:
    params: [{name: word}]
    results: [{name: final, value: "$(tasks.c.results.out)"}]
    tasks:
    - name: a
      params: [{name: in, value: "$(params.word)"}]
      taskSpec: {params: [{name: in}], results: [{name: out}], steps: [{image: x, script: "echo $(params.in)"}]}
    - name: b
      params: [{name: in, value: "$(tasks.a.results.out)-b"}]
      taskSpec: {params: [{name: in}], results: [{name: out}], steps: [{image: x, script: "echo $(params.in)"}]}
    - name: c
      runAfter: [b]
      params: [{name: in, value: "$(tasks.b.results.out) $(context.pipelineRun.name)"}]
      taskSpec: {params: [{name: in}], results: [{name: out}], steps: [{image: x, script: "echo $(params.in)"}]}
"#;

#[test]
fn results_flow_along_the_dag_and_become_pipeline_results() {
    let mut world = World::new(RESULTS_PIPELINE, None, &[]);
    let config = EngineConfig::default();
    let first = world.step(at(0), &config);
    assert_eq!(first.create.len(), 1, "only a is ready");
    assert_eq!(
        first
            .status
            .succeeded()
            .and_then(|c| c.message.clone())
            .as_deref(),
        Some("Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 3, Skipped: 0")
    );
    world.run_to_end(&config, |child| {
        let input = child
            .spec
            .params
            .iter()
            .find(|p| p.name == "in")
            .map(|p| p.value.clone())
            .unwrap_or_default();
        let ParamValue::String(text) = input else {
            return Outcome::Fail;
        };
        Outcome::Succeed(vec![("out", s(&format!("{text}!")))])
    });
    assert_eq!(world.param("b", "in"), s("hello!-b"));
    assert_eq!(world.param("c", "in"), s("hello!-b! pr"));
    let (status, why, message) = world.condition();
    assert_eq!((status.as_str(), why.as_str()), ("True", "Succeeded"));
    assert_eq!(message, "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0");
    let results = &world.run.status.as_ref().expect("status").results;
    assert_eq!(results[0].value, s("hello!-b! pr!"));
    let child = world.child("a");
    assert_eq!(child.metadata.name.as_deref(), Some("pr-a"));
    let labels = child.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("tekton.dev/pipelineRun").map(String::as_str),
        Some("pr")
    );
    assert_eq!(
        labels.get("tekton.dev/memberOf").map(String::as_str),
        Some("tasks")
    );
    assert_eq!(
        child
            .metadata
            .owner_references
            .as_ref()
            .map(|o| o[0].kind.as_str()),
        Some("PipelineRun")
    );
    let refs: Vec<(String, String)> = world
        .run
        .status
        .as_ref()
        .expect("status")
        .child_references
        .iter()
        .map(|c| (c.name.clone(), c.pipeline_task_name.clone()))
        .collect();
    assert_eq!(
        refs,
        [
            ("pr-a".into(), "a".into()),
            ("pr-b".into(), "b".into()),
            ("pr-c".into(), "c".into())
        ]
    );
    assert!(
        world
            .run
            .status
            .as_ref()
            .and_then(|s| s.completion_time.as_ref())
            .is_some()
    );
}

const FAN_OUT: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: fan, namespace: ns}
spec:
  pipelineSpec:
    tasks:
    - {name: a, taskSpec: {steps: [{image: x, script: "true"}]}}
    - {name: b, taskSpec: {steps: [{image: x, script: "true"}]}}
    - {name: c, taskSpec: {steps: [{image: x, script: "true"}]}}
"#;

#[test]
fn ready_tasks_start_together_unless_capped() {
    let mut world = World::new(FAN_OUT, None, &[]);
    assert_eq!(world.step(at(0), &EngineConfig::default()).create.len(), 3);
    let capped = EngineConfig {
        max_parallel_tasks: Some(2),
        ..Default::default()
    };
    let mut world = World::new(FAN_OUT, None, &[]);
    assert_eq!(world.step(at(0), &capped).create.len(), 2);
    assert_eq!(world.step(at(1), &capped).create.len(), 0, "two still running");
    world.run_to_end(&capped, |_| Outcome::Succeed(vec![]));
    assert_eq!(world.children.len(), 3);
    assert_eq!(world.condition().1, "Succeeded");
}

const WHEN: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: w, namespace: ns}
spec:
  params: [{name: path, value: README.md}]
  pipelineSpec:
    params: [{name: path}]
    tasks:
    - name: check
      taskSpec: {results: [{name: exists}], steps: [{image: x, script: "true"}]}
    - name: guarded
      when: [{input: "$(tasks.check.results.exists)", operator: in, values: ["yes"]}]
      taskSpec: {results: [{name: out}], steps: [{image: x, script: "true"}]}
    - name: after-guarded
      runAfter: [guarded]
      taskSpec: {steps: [{image: x, script: "true"}]}
    - name: needs-result
      params: [{name: v, value: "$(tasks.guarded.results.out)"}]
      taskSpec: {params: [{name: v}], steps: [{image: x, script: "true"}]}
    - name: notin
      when: [{input: "$(params.path)", operator: notin, values: ["README.md"]}]
      taskSpec: {steps: [{image: x, script: "true"}]}
"#;

#[test]
fn when_expressions_skip_only_their_task_and_result_consumers() {
    let mut world = World::new(WHEN, None, &[]);
    world.run_to_end(&EngineConfig::default(), |_| {
        Outcome::Succeed(vec![("exists", s("no"))])
    });
    let skipped = world.skipped();
    assert_eq!(
        skipped,
        [
            (
                "guarded".to_string(),
                "When Expressions evaluated to false".to_string()
            ),
            ("needs-result".to_string(), "Results were missing".to_string()),
            (
                "notin".to_string(),
                "When Expressions evaluated to false".to_string()
            ),
        ]
    );
    let resolved = &world.run.status.as_ref().expect("status").skipped_tasks[0].when_expressions[0];
    assert_eq!(resolved.input, "no");
    assert!(
        world.children.iter().any(|c| task_name(c) == "after-guarded"),
        "ordering dependents still run"
    );
    let (status, why, message) = world.condition();
    assert_eq!((status.as_str(), why.as_str()), ("True", "Completed"));
    assert_eq!(message, "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 3");
}

const FAILING_WITH_FINALLY: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: f, namespace: ns}
spec:
  pipelineSpec:
    tasks:
    - {name: bad, taskSpec: {steps: [{image: x, script: "exit 1"}]}}
    - {name: slow, taskSpec: {steps: [{image: x, script: "true"}]}}
    - {name: later, runAfter: [slow], taskSpec: {steps: [{image: x, script: "true"}]}}
    finally:
    - name: report
      params: [{name: agg, value: "$(tasks.status)"}, {name: bad, value: "$(tasks.bad.status)"}, {name: later, value: "$(tasks.later.status)"}]
      taskSpec: {params: [{name: agg}, {name: bad}, {name: later}], steps: [{image: x, script: "true"}]}
"#;

#[test]
fn a_failure_stops_new_tasks_and_finally_sees_the_status() {
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    world.run_to_end(&EngineConfig::default(), |child| match task_name(child) {
        "bad" => Outcome::Fail,
        _ => Outcome::Succeed(vec![]),
    });
    assert_eq!(
        world.skipped(),
        [("later".to_string(), "PipelineRun was stopping".to_string())]
    );
    assert_eq!(world.param("report", "agg"), s("Failed"));
    assert_eq!(world.param("report", "bad"), s("Failed"));
    assert_eq!(world.param("report", "later"), s("None"));
    assert_eq!(
        world
            .child("report")
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("tekton.dev/memberOf"))
            .map(String::as_str),
        Some("finally")
    );
    assert!(
        world
            .run
            .status
            .as_ref()
            .and_then(|s| s.finally_start_time.as_ref())
            .is_some()
    );
    let (status, why, message) = world.condition();
    assert_eq!((status.as_str(), why.as_str()), ("False", "Failed"));
    assert_eq!(message, "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1");
}

#[test]
fn on_error_continue_ignores_the_failure() {
    let run = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: c, namespace: ns}
spec:
  pipelineSpec:
    tasks:
    - {name: flaky, onError: continue, taskSpec: {steps: [{image: x, script: "exit 1"}]}}
    - {name: next, runAfter: [flaky], taskSpec: {steps: [{image: x, script: "true"}]}}
"#;
    let mut world = World::new(run, None, &[]);
    world.run_to_end(&EngineConfig::default(), |child| {
        if task_name(child) == "flaky" {
            Outcome::Fail
        } else {
            Outcome::Succeed(vec![])
        }
    });
    let (status, why, message) = world.condition();
    assert_eq!((status.as_str(), why.as_str()), ("True", "Succeeded"));
    assert_eq!(
        message,
        "Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0"
    );
}

#[test]
fn cancellation_modes() {
    // Cancelled: children cancelled, finally not run.
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    let config = EngineConfig::default();
    world.step(at(0), &config);
    world.run.spec.status = Some("Cancelled".into());
    let plan = world.step(at(1), &config);
    assert_eq!(plan.cancel.len(), 2);
    assert_eq!(
        plan.cancel[0].message,
        "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
    );
    assert_eq!(
        world.condition(),
        (
            "False".into(),
            "Cancelled".into(),
            "PipelineRun \"f\" was cancelled".into()
        )
    );

    // CancelledRunFinally: running children cancelled, remaining skipped, finally runs.
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    world.step(at(0), &config);
    world.run.spec.status = Some("CancelledRunFinally".into());
    world.run_to_end(&config, |_| Outcome::Hang);
    assert!(
        world.children.iter().any(|c| task_name(c) == "report"),
        "finally ran"
    );
    assert!(world.skipped().contains(&(
        "later".to_string(),
        "PipelineRun was gracefully cancelled".to_string()
    )));
    assert!(
        world.plans.iter().any(
            |p| p.status.succeeded().and_then(|c| c.reason.as_deref()) == Some("CancelledRunningFinally")
        )
    );

    // StoppedRunFinally: running children finish, no new DAG tasks, finally runs.
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    world.step(at(0), &config);
    world.run.spec.status = Some("StoppedRunFinally".into());
    world.run_to_end(&config, |_| Outcome::Succeed(vec![]));
    assert!(world.plans.iter().all(|p| p.cancel.is_empty()));
    assert!(world.skipped().contains(&(
        "later".to_string(),
        "PipelineRun was gracefully stopped".to_string()
    )));
    assert_eq!(
        world.condition(),
        (
            "False".into(),
            "Cancelled".into(),
            "PipelineRun \"f\" was cancelled".into()
        )
    );
}

#[test]
fn timeouts() {
    let config = EngineConfig::default();
    // Pipeline timeout: everything cancelled, reason PipelineRunTimeout.
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    world.run.spec.timeouts = Some(ferry_types::tekton::v1::TimeoutFields {
        pipeline: Some("5s".into()),
        ..Default::default()
    });
    let first = world.step(at(0), &config);
    assert_eq!(first.requeue_after, Some(Duration::from_secs(5)));
    assert_eq!(first.create[0].spec.timeout.as_deref(), Some("5s"));
    let plan = world.step(at(6), &config);
    assert_eq!(plan.cancel.len(), 2);
    assert_eq!(
        plan.cancel[0].message,
        "TaskRun cancelled as the PipelineRun it belongs to has timed out."
    );
    assert_eq!(
        world.condition(),
        (
            "False".into(),
            "PipelineRunTimeout".into(),
            "PipelineRun \"f\" failed to finish within \"5s\"".into()
        )
    );
    assert!(world.skipped().contains(&(
        "later".to_string(),
        "PipelineRun timeout has been reached".to_string()
    )));

    // Tasks timeout: DAG cancelled and skipped, finally still runs, run fails.
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    world.run.spec.timeouts = Some(ferry_types::tekton::v1::TimeoutFields {
        pipeline: Some("1h".into()),
        tasks: Some("2s".into()),
        finally: None,
    });
    world.run_to_end(&config, |child| {
        if task_name(child) == "report" {
            Outcome::Succeed(vec![])
        } else {
            Outcome::Hang
        }
    });
    assert!(world.skipped().contains(&(
        "later".to_string(),
        "PipelineRun Tasks timeout has been reached".to_string()
    )));
    assert!(world.children.iter().any(|c| task_name(c) == "report"));
    assert!(
        world
            .plans
            .iter()
            .any(|p| p.status.succeeded().and_then(|c| c.reason.as_deref())
                == Some("PipelineRunTimeoutRunningFinally"))
    );
    assert_eq!(world.condition().1, "Failed");
}

#[test]
fn runtime_validation_failures_use_tekton_reasons() {
    let p = r#"
apiVersion: tekton.dev/v1beta1
kind: Pipeline
metadata: {name: p, namespace: ns}
spec:
  params: [{name: a}, {name: list, type: array}]
  tasks: [{name: t, taskRef: {name: echo}}]
"#;
    let echo = "apiVersion: tekton.dev/v1beta1\nkind: Task\nmetadata: {name: echo}\nspec: {steps: [{image: x, script: 'true'}]}";
    let cases = [
        (
            "params: []",
            "ParameterMissing",
            "PipelineRun ns/r is missing some parameters required by Pipeline ns/p: pipelineRun missing parameters: [a list]",
        ),
        (
            "params: [{name: a, value: x}, {name: list, value: notarray}]",
            "ParameterTypeMismatch",
            "PipelineRun ns/r parameters have mismatching types with Pipeline ns/p's parameters: [list]",
        ),
    ];
    for (params, why, message) in cases {
        let run = format!(
            "apiVersion: tekton.dev/v1beta1\nkind: PipelineRun\nmetadata: {{name: r, namespace: ns}}\nspec:\n  pipelineRef: {{name: p}}\n  {params}\n"
        );
        let mut world = World::new(&run, Some(p), &[echo]);
        world.step(at(0), &EngineConfig::default());
        assert_eq!(world.condition(), ("False".into(), why.into(), message.into()));
    }
    let run = "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r, namespace: ns}\nspec:\n  pipelineRef: {name: p}\n  params: [{name: a, value: x}, {name: list, value: [x]}]\n";
    let mut world = World::new(run, Some(p), &[]);
    world.step(at(0), &EngineConfig::default());
    assert_eq!(world.condition().1, "CouldntGetTask");
    assert!(
        world
            .condition()
            .2
            .contains("tasks.tekton.dev \"echo\" not found"),
        "{}",
        world.condition().2
    );

    let mut world = World::new(run, None, &[]);
    world.run.spec.pipeline_spec = None;
    world.pipeline = PipelineSource::NotFound {
        message: "pipelines.tekton.dev \"p\" not found".into(),
    };
    world.step(at(0), &EngineConfig::default());
    assert_eq!(world.condition().1, "CouldntGetPipeline");

    let cyclic = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: cyc, namespace: ns}
spec:
  pipelineSpec:
    tasks:
    - {name: foo, runAfter: [bar], taskSpec: {steps: [{image: x, script: "true"}]}}
    - {name: bar, runAfter: [foo], taskSpec: {steps: [{image: x, script: "true"}]}}
"#;
    let mut world = World::new(cyclic, None, &[]);
    world.step(at(0), &EngineConfig::default());
    let (_, why, message) = world.condition();
    assert_eq!(why, "PipelineInvalidGraph");
    assert!(
        message.contains("cycle detected; task \"bar\" depends on \"foo\""),
        "{message}"
    );
}

#[test]
fn matrix_fans_out_and_aggregates_results() {
    let run = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: m, namespace: ns}
spec:
  pipelineSpec:
    tasks:
    - name: build
      matrix:
        params: [{name: os, value: [linux, mac]}, {name: arch, value: [amd64, arm64]}]
        include: [{name: extra, params: [{name: os, value: linux}, {name: flavor, value: musl}]}]
      taskSpec: {params: [{name: os}, {name: arch}], results: [{name: id}], steps: [{image: x, script: "true"}]}
    - name: collect
      params: [{name: ids, value: "$(tasks.build.results.id[*])"}]
      taskSpec: {params: [{name: ids, type: array}], steps: [{image: x, script: "true"}]}
    - name: empty
      matrix: {params: [{name: os, value: []}]}
      taskSpec: {params: [{name: os}], steps: [{image: x, script: "true"}]}
"#;
    let mut world = World::new(run, None, &[]);
    world.run_to_end(&EngineConfig::default(), |child| {
        let os = child
            .spec
            .params
            .iter()
            .find(|p| p.name == "os")
            .map(|p| p.value.clone());
        let arch = child
            .spec
            .params
            .iter()
            .find(|p| p.name == "arch")
            .map(|p| p.value.clone());
        match (os, arch) {
            (Some(ParamValue::String(os)), Some(ParamValue::String(arch))) => {
                Outcome::Succeed(vec![("id", s(&format!("{os}-{arch}")))])
            }
            _ => Outcome::Succeed(vec![]),
        }
    });
    let builds: Vec<&TaskRun> = world
        .children
        .iter()
        .filter(|c| task_name(c) == "build")
        .collect();
    let names: Vec<&str> = builds.iter().filter_map(|c| c.metadata.name.as_deref()).collect();
    assert_eq!(names, ["m-build-0", "m-build-1", "m-build-2", "m-build-3"]);
    let flavors = builds
        .iter()
        .filter(|c| c.spec.params.iter().any(|p| p.name == "flavor"))
        .count();
    assert_eq!(flavors, 2, "include adds flavor to both linux combinations");
    assert_eq!(
        world.param("collect", "ids"),
        ParamValue::Array(vec![
            "linux-amd64".into(),
            "linux-arm64".into(),
            "mac-amd64".into(),
            "mac-arm64".into()
        ])
    );
    assert!(world.skipped().contains(&(
        "empty".to_string(),
        "Matrix Parameters have an empty array".to_string()
    )));
}

#[test]
fn seed_pipeline_run_creates_one_task_run_with_all_params() {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(include_str!("fixtures/seed.yaml")).expect("seed");
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().expect(kind);
    let (task, _) = parse_task(find("Task")).expect("task");
    let (pipeline, _) = parse_pipeline(find("Pipeline")).expect("pipeline");
    let (mut run, version) = parse_pipeline_run(find("PipelineRun")).expect("run");
    assert_eq!(version, ferry_types::tekton::convert::ApiVersion::V1beta1);
    run.metadata.namespace = Some("default".into());
    let tasks: BTreeMap<String, TaskSpec> = [("helloworld-argocd".to_string(), task.spec)]
        .into_iter()
        .collect();
    let input = PipelineRunInput {
        run: &run,
        pipeline: PipelineSource::Found {
            name: pipeline.metadata.name.clone(),
            spec: Box::new(pipeline.spec),
        },
        tasks: &tasks,
        children: &[],
        now: at(0),
    };
    let plan = reconcile(&input, &EngineConfig::default());
    assert_eq!(plan.create.len(), 1);
    let child = &plan.create[0];
    assert_eq!(
        child.metadata.name.as_deref(),
        Some("helloworld-pipeline-run-1-helloworld-argocd")
    );
    assert_eq!(
        child.spec.task_ref.as_ref().map(|r| r.name.as_str()),
        Some("helloworld-argocd")
    );
    let params: BTreeMap<&str, &ParamValue> = child
        .spec
        .params
        .iter()
        .map(|p| (p.name.as_str(), &p.value))
        .collect();
    assert_eq!(params["app_name"], &s("helloworld"));
    assert_eq!(params["k8s_server"], &s("https://kubernetes.default.svc"));
    assert_eq!(params["short_sha"], &s("d92ae174b"));
    assert_eq!(params.len(), 7);
    assert_eq!(child.spec.timeout.as_deref(), Some("1h0m0s"));
    assert_eq!(
        plan.status.succeeded().and_then(|c| c.reason.as_deref()),
        Some("Running")
    );
}

#[test]
fn pending_runs_wait_and_done_runs_are_left_alone() {
    let mut world = World::new(FAN_OUT, None, &[]);
    world.run.spec.status = Some("PipelineRunPending".into());
    let plan = world.step(at(0), &EngineConfig::default());
    assert!(plan.create.is_empty());
    assert_eq!(
        world.condition(),
        (
            "Unknown".into(),
            "PipelineRunPending".into(),
            "PipelineRun \"fan\" is pending".into()
        )
    );
    assert!(
        world
            .run
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .is_none()
    );
    world.run.spec.status = None;
    world.run_to_end(&EngineConfig::default(), |_| Outcome::Succeed(vec![]));
    let before = world.run.status.clone();
    let plan = world.step(at(100), &EngineConfig::default());
    assert!(plan.create.is_empty() && plan.cancel.is_empty());
    assert_eq!(Some(plan.status), before);
}

#[test]
fn a_missing_result_fails_the_run() {
    let mut world = World::new(RESULTS_PIPELINE, None, &[]);
    world.run_to_end(&EngineConfig::default(), |_| Outcome::Succeed(vec![]));
    let (status, why, message) = world.condition();
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("False", "InvalidTaskResultReference")
    );
    assert!(message.contains("task \"a\" completed successfully but did not emit the result \"out\", which is referenced by task \"b\""), "{message}");
}

#[test]
fn a_failure_while_others_run_reports_stopping() {
    let mut world = World::new(FAILING_WITH_FINALLY, None, &[]);
    let config = EngineConfig::default();
    assert_eq!(world.step(at(0), &config).create.len(), 2);
    let now = at(1);
    for child in world.children.iter_mut() {
        if task_name(child) == "bad" {
            let mut status = TaskRunStatus::default();
            conditions::set_succeeded(
                &mut status.conditions,
                conditions::succeeded("False", "StepFailed", "", now),
            );
            child.status = Some(status);
        }
    }
    let plan = world.step(now, &config);
    assert!(
        plan.create.is_empty(),
        "no new DAG task and no finally while slow runs"
    );
    assert_eq!(
        world.condition(),
        (
            "Unknown".into(),
            "PipelineRunStopping".into(),
            "Tasks Completed: 1 (Failed: 1, Cancelled 0), Incomplete: 2, Skipped: 1".into()
        )
    );
    assert_eq!(
        world.skipped(),
        [("later".to_string(), "PipelineRun was stopping".to_string())]
    );
    world.run_to_end(&config, |_| Outcome::Succeed(vec![]));
    assert!(world.children.iter().any(|c| task_name(c) == "report"));
    assert_eq!(world.condition().1, "Failed");
}
