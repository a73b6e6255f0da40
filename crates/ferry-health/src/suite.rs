//! Argo CD-format health and action test suites (`ferry health test DIR`).
//!
//! Layout, as in Argo CD's `resource_customizations/`:
//! * `<group>/<Kind>/health_test.yaml` with `tests: [{healthStatus: {status, message}, inputPath}]`.
//!   When `health.lua` sits next to it, the script is tested (run as a built-in script: open
//!   libraries); otherwise the object is assessed by Ferry's built-in check for its kind.
//! * `<group>/<Kind>/actions/action_test.yaml` with `discoveryTests: [{inputPath, result}]` and
//!   `actionTests: [{action, inputPath, parameters, expectedOutputPath | expectedErrorMessage}]`;
//!   scripts are `actions/discovery.lua` and `actions/<action>/action.lua`.
//!
//! Paths are relative to the test file. Keys are matched case-insensitively (Argo CD reads these
//! files through `sigs.k8s.io/yaml`, i.e. Go JSON decoding), so `inputpath:` works too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::actions::{ResourceAction, discover_actions, run_action};
use crate::assess::assess_builtin;
use crate::lua::{Libraries, LuaRuntime};
use crate::script::eval_health_script;
use crate::status::HealthStatus;

pub const HEALTH_TEST_FILE: &str = "health_test.yaml";
pub const ACTION_TEST_FILE: &str = "action_test.yaml";

/// One test case's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// `<test file>#<section>[<index>]` plus the input path.
    pub name: String,
    /// `None` when the case passed; otherwise expected vs got.
    pub failure: Option<String>,
}

/// Outcomes of every case under a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteReport {
    pub cases: Vec<CaseOutcome>,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// Every failure with expected vs got, then `N passed, N failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            if let Some(failure) = &case.failure {
                let _ = writeln!(out, "FAIL {}\n  {}", case.name, failure.replace('\n', "\n  "));
            }
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

/// Runs every suite found under `root`. Unreadable files become failed cases, not errors.
pub fn run_suites(root: &Path, runtime: &LuaRuntime) -> SuiteReport {
    let mut files = Vec::new();
    collect_test_files(root, &mut files);
    files.sort();
    let mut report = SuiteReport::default();
    for file in files {
        let label = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        let is_health = file.file_name().is_some_and(|n| n == HEALTH_TEST_FILE);
        let result = if is_health {
            run_health_file(&file, &label, runtime, &mut report)
        } else {
            run_action_file(&file, &label, runtime, &mut report)
        };
        if let Err(message) = result {
            report.cases.push(CaseOutcome {
                name: label,
                failure: Some(message),
            });
        }
    }
    report
}

fn collect_test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_test_files(&path, out);
        } else if path
            .file_name()
            .is_some_and(|n| n == HEALTH_TEST_FILE || n == ACTION_TEST_FILE)
        {
            out.push(path);
        }
    }
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|err| format!("invalid YAML in {}: {err}", path.display()))
}

/// Field lookup ignoring ASCII case, exact match first (Go JSON decoding).
fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn str_ci<'a>(value: &'a Value, key: &str) -> &'a str {
    get_ci(value, key).and_then(Value::as_str).unwrap_or("")
}

fn list_ci<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    get_ci(value, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn run_health_file(
    file: &Path,
    label: &str,
    runtime: &LuaRuntime,
    report: &mut SuiteReport,
) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let suite = read_yaml(file)?;
    let script_path = dir.join("health.lua");
    let script = match std::fs::read_to_string(&script_path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("cannot read {}: {err}", script_path.display())),
    };
    for (index, case) in list_ci(&suite, "tests").iter().enumerate() {
        let input = str_ci(case, "inputPath");
        let name = format!("{label}#tests[{index}] {input}");
        let expected = get_ci(case, "healthStatus").cloned().unwrap_or(Value::Null);
        let expected = (
            str_ci(&expected, "status").to_owned(),
            str_ci(&expected, "message").to_owned(),
        );
        let got = read_yaml(&dir.join(input)).map(|obj| {
            let health = match &script {
                Some(script) => eval_health_script(runtime, script, Libraries::Open, &obj)
                    .unwrap_or_else(|err| Some(HealthStatus::unknown(err.to_string()))),
                None => assess_builtin(&obj),
            };
            health.map_or((String::new(), String::new()), |h| {
                (h.status.as_str().to_owned(), h.message)
            })
        });
        let failure = match got {
            Err(message) => Some(message),
            Ok(got) if got == expected => None,
            Ok(got) => Some(format!(
                "expected: {{status: {:?}, message: {:?}}}\ngot:      {{status: {:?}, message: {:?}}}",
                expected.0, expected.1, got.0, got.1
            )),
        };
        report.cases.push(CaseOutcome { name, failure });
    }
    Ok(())
}

fn run_action_file(
    file: &Path,
    label: &str,
    runtime: &LuaRuntime,
    report: &mut SuiteReport,
) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let suite = read_yaml(file)?;
    for (index, case) in list_ci(&suite, "discoveryTests").iter().enumerate() {
        let input = str_ci(case, "inputPath");
        let name = format!("{label}#discoveryTests[{index}] {input}");
        let failure = check_discovery(dir, case, input, runtime).err();
        report.cases.push(CaseOutcome { name, failure });
    }
    for (index, case) in list_ci(&suite, "actionTests").iter().enumerate() {
        let input = str_ci(case, "inputPath");
        let action = str_ci(case, "action");
        let name = format!("{label}#actionTests[{index}] {action} {input}");
        let failure = check_action(dir, case, action, input, runtime).err();
        report.cases.push(CaseOutcome { name, failure });
    }
    Ok(())
}

fn read_script(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

fn check_discovery(dir: &Path, case: &Value, input: &str, runtime: &LuaRuntime) -> Result<(), String> {
    let script = read_script(&dir.join("discovery.lua"))?;
    let obj = read_yaml(&dir.join(input))?;
    let mut got = discover_actions(runtime, &script, Libraries::Open, &obj)
        .map_err(|err| format!("discovery failed: {err}"))?;
    let mut expected: Vec<ResourceAction> = list_ci(case, "result")
        .iter()
        .map(|item| serde_json::from_value(lowercase_first_keys(item)))
        .collect::<Result<_, _>>()
        .map_err(|err| format!("invalid expected result: {err}"))?;
    got.sort_by(|a, b| a.name.cmp(&b.name));
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "expected: {}\ngot:      {}",
            serde_json::to_string(&expected).unwrap_or_default(),
            serde_json::to_string(&got).unwrap_or_default()
        ))
    }
}

/// Normalises the key spelling of expected discovery results (`iconclass` → `iconClass`, …).
fn lowercase_first_keys(item: &Value) -> Value {
    const KEYS: [&str; 5] = ["name", "disabled", "iconClass", "displayName", "params"];
    let Some(object) = item.as_object() else {
        return item.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in object {
        let canonical = KEYS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(key))
            .map_or(key.clone(), |k| (*k).to_owned());
        out.insert(canonical, value.clone());
    }
    Value::Object(out)
}

fn check_action(
    dir: &Path,
    case: &Value,
    action: &str,
    input: &str,
    runtime: &LuaRuntime,
) -> Result<(), String> {
    let script = read_script(&dir.join(action).join("action.lua"))?;
    let obj = read_yaml(&dir.join(input))?;
    let params: BTreeMap<String, String> = get_ci(case, "parameters")
        .and_then(Value::as_object)
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    let result = run_action(runtime, &script, Libraries::Open, &obj, &params);
    let expected_error = str_ci(case, "expectedErrorMessage");
    if !expected_error.is_empty() {
        return match result {
            Err(err) if err.to_string().contains(expected_error) => Ok(()),
            Err(err) => Err(format!(
                "expected error containing: {expected_error:?}\ngot error:                {:?}",
                err.to_string()
            )),
            Ok(_) => Err(format!(
                "expected error containing: {expected_error:?}\ngot: success"
            )),
        };
    }
    let impacted = result.map_err(|err| format!("action failed: {err}"))?;
    let expected = read_yaml(&dir.join(str_ci(case, "expectedOutputPath")))?;
    let got = match (impacted.as_slice(), &expected) {
        ([single], Value::Object(_)) => single.object.clone(),
        _ => serde_json::to_value(&impacted).map_err(|err| err.to_string())?,
    };
    if json_equal(&got, &expected) {
        Ok(())
    } else {
        Err(format!(
            "expected: {}\ngot:      {}",
            serde_json::to_string(&expected).unwrap_or_default(),
            serde_json::to_string(&got).unwrap_or_default()
        ))
    }
}

/// Semantic equality: numbers compare by value (`2` equals `2.0`), maps ignore key order.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
