//! The graph of a Pipeline's `tasks`: edges from `runAfter` and from every
//! `$(tasks.X.results.…)` in params, matrix params and when expressions.

use std::collections::{BTreeMap, BTreeSet};

use ferry_types::tekton::{ParamValue, PipelineTask};

use crate::substitution::references;

/// A graph that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    #[error("cycle detected; task {task:?} depends on {depends_on:?}")]
    Cycle { task: String, depends_on: String },
    #[error(
        "couldn't add link between {task} and {missing}: task {task} depends on {missing} but {missing} wasn't present in Pipeline"
    )]
    UnknownTask { task: String, missing: String },
}

/// Task names referenced as `$(tasks.<t>.results.…)` (or `$(tasks.<t>.matrix…)`) in `text`.
pub fn result_producers(text: &str) -> BTreeSet<String> {
    references(text)
        .into_iter()
        .filter_map(|reference| {
            let rest = reference.strip_prefix("tasks.")?;
            let (task, tail) = rest.split_once('.')?;
            (tail.starts_with("results") || tail.starts_with("matrix")).then(|| task.to_string())
        })
        .collect()
}

fn value_producers(value: &ParamValue, into: &mut BTreeSet<String>) {
    for s in value.strings() {
        into.extend(result_producers(s));
    }
}

/// Result references of a pipeline task (params, matrix, when): `(task, result)` pairs.
pub fn result_references(task: &PipelineTask) -> Vec<(String, String)> {
    let mut texts: Vec<&str> = Vec::new();
    for p in &task.params {
        texts.extend(p.value.strings());
    }
    if let Some(matrix) = &task.matrix {
        for p in &matrix.params {
            texts.extend(p.value.strings());
        }
        for include in &matrix.include {
            for p in &include.params {
                texts.extend(p.value.strings());
            }
        }
    }
    for when in &task.when {
        texts.push(&when.input);
        texts.extend(when.values.iter().map(String::as_str));
    }
    let mut out = Vec::new();
    for text in texts {
        for reference in references(text) {
            if let Some(rest) = reference.strip_prefix("tasks.")
                && let Some((task, tail)) = rest.split_once('.')
                && let Some(result) = tail.strip_prefix("results.")
            {
                let name = result.split(['.', '[']).next().unwrap_or(result);
                out.push((task.to_string(), name.to_string()));
            }
        }
    }
    out
}

/// Every task `task` must wait for.
pub fn dependencies(task: &PipelineTask) -> BTreeSet<String> {
    let mut deps: BTreeSet<String> = task.run_after.iter().cloned().collect();
    for p in &task.params {
        value_producers(&p.value, &mut deps);
    }
    if let Some(matrix) = &task.matrix {
        for p in matrix
            .params
            .iter()
            .chain(matrix.include.iter().flat_map(|i| i.params.iter()))
        {
            value_producers(&p.value, &mut deps);
        }
    }
    for when in &task.when {
        deps.extend(result_producers(&when.input));
        for v in &when.values {
            deps.extend(result_producers(v));
        }
    }
    deps
}

/// A validated acyclic graph: each task and the tasks it waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dag {
    pub parents: BTreeMap<String, BTreeSet<String>>,
}

impl Dag {
    /// Builds and checks the graph (Kahn's algorithm, reporting the lexicographically
    /// first task left in a cycle, as Tekton does).
    pub fn build(tasks: &[PipelineTask]) -> Result<Dag, DagError> {
        let names: BTreeSet<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for task in tasks {
            let deps = dependencies(task);
            for dep in &deps {
                if !names.contains(dep.as_str()) {
                    return Err(DagError::UnknownTask {
                        task: task.name.clone(),
                        missing: dep.clone(),
                    });
                }
            }
            parents.entry(task.name.clone()).or_default().extend(deps);
        }
        let mut remaining = parents.clone();
        loop {
            let ready: Vec<String> = remaining
                .iter()
                .filter(|(_, deps)| deps.is_empty())
                .map(|(name, _)| name.clone())
                .collect();
            if ready.is_empty() {
                break;
            }
            for name in &ready {
                remaining.remove(name);
            }
            for deps in remaining.values_mut() {
                for name in &ready {
                    deps.remove(name);
                }
            }
        }
        if let Some((task, deps)) = remaining.iter().next() {
            let depends_on = deps.iter().next().cloned().unwrap_or_default();
            return Err(DagError::Cycle {
                task: task.clone(),
                depends_on,
            });
        }
        Ok(Dag { parents })
    }

    pub fn parents_of(&self, task: &str) -> impl Iterator<Item = &String> {
        self.parents.get(task).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::tekton::{Param, WhenExpression};

    fn task(name: &str, run_after: &[&str], param: Option<&str>) -> PipelineTask {
        PipelineTask {
            name: name.into(),
            run_after: run_after.iter().map(|s| s.to_string()).collect(),
            params: param
                .map(|v| {
                    vec![Param {
                        name: "p".into(),
                        value: ParamValue::String(v.into()),
                    }]
                })
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn edges_come_from_run_after_results_and_when() {
        let mut consumer = task("c", &["a"], Some("$(tasks.b.results.out) $(tasks.z.status)"));
        consumer.when = vec![WhenExpression {
            input: "$(tasks.d.results.x)".into(),
            operator: "in".into(),
            values: vec!["y".into()],
            cel: None,
        }];
        let deps: Vec<String> = dependencies(&consumer).into_iter().collect();
        assert_eq!(deps, ["a", "b", "d"]);
        assert_eq!(
            result_references(&consumer),
            [
                ("b".to_string(), "out".to_string()),
                ("d".to_string(), "x".to_string())
            ]
        );
    }

    #[test]
    fn detects_cycles_and_unknown_tasks_with_tekton_messages() {
        let cases: Vec<(Vec<PipelineTask>, Result<(), &str>)> = vec![
            (vec![task("a", &[], None), task("b", &["a"], None)], Ok(())),
            (
                vec![task("foo", &["bar"], None), task("bar", &["foo"], None)],
                Err("cycle detected; task \"bar\" depends on \"foo\""),
            ),
            (
                vec![
                    task("a", &[], Some("$(tasks.c.results.r)")),
                    task("b", &["a"], None),
                    task("c", &["b"], None),
                ],
                Err("cycle detected; task \"a\" depends on \"c\""),
            ),
            (
                vec![task("a", &["missing"], None)],
                Err(
                    "couldn't add link between a and missing: task a depends on missing but missing wasn't present in Pipeline",
                ),
            ),
        ];
        for (tasks, expected) in cases {
            let got = Dag::build(&tasks).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_string));
        }
    }
}
