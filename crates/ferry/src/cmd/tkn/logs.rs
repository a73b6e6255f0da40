//! `pipelinerun logs` / `taskrun logs`: step log files of the run controller, printed with
//! tkn's prefixes (`[task : step] ` for a PipelineRun, `[step] ` for a TaskRun), optionally
//! followed until the run finishes.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ferry_pipelines::controller::versions::TektonKind;
use serde_json::Value;

use super::format::{complete_lines, is_done, str_at, timestamp_at};
use super::{LogsArgs, Session, array_at};

/// How often `-f` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// One step's log file and the prefix its lines get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLog {
    pub prefix: String,
    pub path: PathBuf,
}

/// The step names of a TaskRun in order: from the resolved `status.taskSpec` (unnamed
/// steps are `unnamed-<index>`, as the executor names them), else from `status.steps`.
pub fn step_names(task_run: &Value) -> Vec<String> {
    let spec_steps = array_at(task_run, "/status/taskSpec/steps");
    if !spec_steps.is_empty() {
        return spec_steps
            .iter()
            .enumerate()
            .map(|(index, step)| match str_at(step, "/name") {
                "" => format!("unnamed-{index}"),
                name => name.to_string(),
            })
            .collect();
    }
    array_at(task_run, "/status/steps")
        .iter()
        .map(|step| str_at(step, "/name").to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The log files to print for `task_runs` (ordered by start time, then name), limited to
/// `only_tasks` when given. `pipeline_view` selects the `[task : step]` prefix.
pub fn step_logs(
    logs_dir: &Path,
    task_runs: &[Value],
    only_tasks: &[String],
    pipeline_view: bool,
    with_prefix: bool,
) -> Vec<StepLog> {
    let mut ordered: Vec<&Value> = task_runs.iter().collect();
    ordered.sort_by_key(|tr| {
        (
            timestamp_at(tr, "/status/startTime").map_or(i128::MAX, |t| t.as_nanosecond()),
            str_at(tr, "/metadata/name").to_string(),
        )
    });
    let mut logs = Vec::new();
    for task_run in ordered {
        let name = str_at(task_run, "/metadata/name");
        let namespace = str_at(task_run, "/metadata/namespace");
        let pipeline_task = match str_at(task_run, "/metadata/labels/tekton.dev~1pipelineTask") {
            "" => name,
            task => task,
        };
        if !only_tasks.is_empty() && !only_tasks.iter().any(|t| t == pipeline_task) {
            continue;
        }
        for step in step_names(task_run) {
            let prefix = match (with_prefix, pipeline_view) {
                (false, _) => String::new(),
                (true, true) => format!("[{pipeline_task} : {step}] "),
                (true, false) => format!("[{step}] "),
            };
            logs.push(StepLog {
                prefix,
                path: logs_dir.join(namespace).join(name).join(format!("{step}.log")),
            });
        }
    }
    logs
}

/// Read progress of one log file while following.
#[derive(Default)]
struct Cursor {
    offset: u64,
    partial: Vec<u8>,
}

/// Prints what was appended to `log` since `cursor`; with `flush`, also an unfinished last line.
fn pump(log: &StepLog, cursor: &mut Cursor, flush: bool, out: &mut impl Write) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut new_bytes = Vec::new();
    match std::fs::File::open(&log.path) {
        Ok(mut file) => {
            file.seek(SeekFrom::Start(cursor.offset))?;
            file.read_to_end(&mut new_bytes)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    cursor.offset += new_bytes.len() as u64;
    for line in complete_lines(&mut cursor.partial, &new_bytes) {
        writeln!(out, "{}{line}", log.prefix)?;
    }
    if flush && !cursor.partial.is_empty() {
        let rest = String::from_utf8_lossy(&cursor.partial).into_owned();
        writeln!(out, "{}{rest}", log.prefix)?;
        cursor.partial.clear();
    }
    out.flush()
}

/// The TaskRuns whose logs belong to `run`.
async fn task_runs_of(session: &Session, kind: TektonKind, run: &Value) -> anyhow::Result<Vec<Value>> {
    match kind {
        TektonKind::PipelineRun => {
            let name = str_at(run, "/metadata/name");
            session
                .list(
                    TektonKind::TaskRun,
                    false,
                    Some(&format!("tekton.dev/pipelineRun={name}")),
                )
                .await
        }
        _ => Ok(vec![run.clone()]),
    }
}

pub(super) async fn run_logs(
    session: &Session,
    kind: TektonKind,
    args: &LogsArgs,
) -> anyhow::Result<ExitCode> {
    let name = session.run_name(kind, args.name.as_deref(), args.last).await?;
    let logs_dir = session.logs_dir();
    let pipeline_view = kind == TektonKind::PipelineRun;
    let mut cursors: HashMap<PathBuf, Cursor> = HashMap::new();
    let mut out = std::io::stdout().lock();
    loop {
        let run = session.get(kind, &name).await?;
        let task_runs = task_runs_of(session, kind, &run).await?;
        // Read the status before the files, so a run seen finished has all its output on disk.
        let finished = !args.follow || (is_done(&run) && task_runs.iter().all(is_done));
        for log in step_logs(&logs_dir, &task_runs, &args.tasks, pipeline_view, args.prefix) {
            let cursor = cursors.entry(log.path.clone()).or_default();
            pump(&log, cursor, finished, &mut out)?;
        }
        if finished {
            if !args.follow && !logs_dir.is_dir() && !task_runs.is_empty() {
                eprintln!(
                    "No step logs under {} (pass --data-dir, the directory given to `ferry up --data-dir`)",
                    logs_dir.display()
                );
            }
            if args.exit_with_error {
                return Ok(ExitCode::from(outcome_exit_code(&run)));
            }
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// tkn's `-E` exit code: 0 when the run succeeded, 1 when it failed, 2 when unfinished.
pub fn outcome_exit_code(run: &Value) -> u8 {
    let conditions = super::format::conditions(run);
    match conditions
        .iter()
        .find(|c| c.type_ == "Succeeded")
        .map(|c| c.status.as_str())
    {
        Some("True") => 0,
        Some("False") => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_codes_follow_the_outcome() {
        let with =
            |status: &str| json!({"status": {"conditions": [{"type": "Succeeded", "status": status}]}});
        assert_eq!(outcome_exit_code(&with("True")), 0);
        assert_eq!(outcome_exit_code(&with("False")), 1);
        assert_eq!(outcome_exit_code(&with("Unknown")), 2);
        assert_eq!(outcome_exit_code(&json!({})), 2);
    }

    use serde_json::json;

    use super::*;

    #[test]
    fn step_names_come_from_the_resolved_spec_then_the_status() {
        let cases = [
            (
                json!({"status": {"taskSpec": {"steps": [{"name": "build"}, {"image": "x"}]},
                                   "steps": [{"name": "build"}]}}),
                vec!["build", "unnamed-1"],
            ),
            (
                json!({"status": {"steps": [{"name": "a"}, {"name": "b"}]}}),
                vec!["a", "b"],
            ),
            (json!({}), vec![]),
        ];
        for (task_run, expected) in cases {
            assert_eq!(step_names(&task_run), expected, "{task_run}");
        }
    }

    #[test]
    fn step_logs_order_runs_by_start_and_prefix_by_view() {
        let first = json!({
            "metadata": {"name": "pr-a", "namespace": "ns", "labels": {"tekton.dev/pipelineTask": "a"}},
            "status": {"startTime": "2024-05-01T12:00:00Z", "steps": [{"name": "one"}, {"name": "two"}]}
        });
        let second = json!({
            "metadata": {"name": "pr-b", "namespace": "ns", "labels": {"tekton.dev/pipelineTask": "b"}},
            "status": {"startTime": "2024-05-01T12:00:05Z", "steps": [{"name": "only"}]}
        });
        let runs = [second.clone(), first.clone()];
        let dir = Path::new("/data/logs");
        let logs = step_logs(dir, &runs, &[], true, true);
        let got: Vec<(&str, &Path)> = logs
            .iter()
            .map(|l| (l.prefix.as_str(), l.path.as_path()))
            .collect();
        assert_eq!(
            got,
            [
                ("[a : one] ", Path::new("/data/logs/ns/pr-a/one.log")),
                ("[a : two] ", Path::new("/data/logs/ns/pr-a/two.log")),
                ("[b : only] ", Path::new("/data/logs/ns/pr-b/only.log")),
            ]
        );
        let only_b = step_logs(dir, &runs, &["b".to_string()], true, true);
        assert_eq!(only_b.len(), 1);
        let task_view = step_logs(dir, std::slice::from_ref(&first), &[], false, true);
        assert_eq!(task_view.first().map(|l| l.prefix.as_str()), Some("[one] "));
        let bare = step_logs(dir, std::slice::from_ref(&first), &[], true, false);
        assert_eq!(bare.first().map(|l| l.prefix.as_str()), Some(""));
    }

    #[test]
    fn pump_prints_new_complete_lines_and_flushes_the_rest() {
        let dir = std::env::temp_dir().join(format!("ferry-tkn-pump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let log = StepLog {
            prefix: "[t : s] ".into(),
            path: dir.join("s.log"),
        };
        let mut cursor = Cursor::default();
        let mut out = Vec::new();
        pump(&log, &mut cursor, false, &mut out).unwrap_or_default();
        assert!(out.is_empty(), "a missing file reads as empty");
        std::fs::write(&log.path, "hello\nwor").unwrap_or_default();
        pump(&log, &mut cursor, false, &mut out).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), "[t : s] hello\n");
        std::fs::write(&log.path, "hello\nworld").unwrap_or_default();
        pump(&log, &mut cursor, true, &mut out).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), "[t : s] hello\n[t : s] world\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
