//! The step wrapper of the Pod executor (`ferry entrypoint`, installed in each Pod as
//! `/tekton/bin/entrypoint`), speaking Tekton's entrypoint flags:
//!
//! `-wait_file F [-wait_file_content] -post_file P -termination_path T -step_metadata_dir D
//!  [-results a,b] [-results_dir R] [-on_error continue|stopAndFail] [-timeout 5s]
//!  -entrypoint CMD -- ARGS…`
//!
//! 1. waits until `F` exists (with `-wait_file_content`, until it is non-empty); if `F.err`
//!    appears instead, an earlier step failed: the step is skipped (post file `P.err`,
//!    termination reason `Skipped`, exit 1);
//! 2. runs `CMD ARGS…` with the container's stdio, killed at `-timeout` (reason
//!    `TimeoutExceeded`);
//! 3. writes the exit code to `D/exitCode` and the post file: `P` on success or with
//!    `-on_error continue` (exiting 0 and reporting the real code as `ExitCode`), `P.err`
//!    on failure;
//! 4. reads the named results from `R` (default `/tekton/results`) and writes the
//!    termination message `[{"key":…,"value":…,"type":…}]` to `T`: type 1 for task
//!    results, 3 for Tekton's own keys (`StartedAt`, `ExitCode`, `Reason`). A message over
//!    the kubelet's 4096 bytes fails the step (Tekton's message), with post file `P.err`.
//!
//! Two more subcommands run in the Pod's init containers: `init SRC DST STEP…` copies the
//! binary to `DST` and links `/tekton/steps/<step>` and `/tekton/steps/<i>` to
//! `/tekton/run/<i>/status`; `place-scripts PATH=BASE64…` writes the steps' scripts.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// The kubelet's limit on a termination message.
pub const MAX_TERMINATION_MESSAGE: usize = 4096;
/// Result types in the termination message (Tekton's `ResultType`).
pub const TASK_RESULT_TYPE: u8 = 1;
pub const INTERNAL_RESULT_TYPE: u8 = 3;
const POLL: Duration = Duration::from_millis(10);

/// What the wrapper could not do; names the flag or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum EntrypointError {
    #[error("flag {flag}: {message}")]
    Flag { flag: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EntrypointError + '_ {
    move |source| EntrypointError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `-on_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    StopAndFail,
    Continue,
}

/// The parsed flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub wait_file: Option<PathBuf>,
    pub wait_file_content: bool,
    pub post_file: Option<PathBuf>,
    pub termination_path: PathBuf,
    pub step_metadata_dir: Option<PathBuf>,
    pub results: Vec<String>,
    pub results_dir: PathBuf,
    pub on_error: OnError,
    pub timeout: Option<Duration>,
    pub entrypoint: String,
    pub args: Vec<String>,
    /// Largest termination message (the kubelet's 4096 bytes).
    pub max_message: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait_file: None,
            wait_file_content: false,
            post_file: None,
            termination_path: PathBuf::from(crate::executor::pod::TERMINATION_PATH),
            step_metadata_dir: None,
            results: Vec::new(),
            results_dir: PathBuf::from(crate::resolve::RESULTS_DIR),
            on_error: OnError::StopAndFail,
            timeout: None,
            entrypoint: String::new(),
            args: Vec::new(),
            max_message: MAX_TERMINATION_MESSAGE,
        }
    }
}

/// Parses Go-style flags (`-name value`, `-name=value`, `--name value`) up to `--`.
pub fn parse(args: &[String]) -> Result<Options, EntrypointError> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            options.args = rest.cloned().collect();
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // Go's flag package stops at the first non-flag argument.
            options.args = std::iter::once(arg.clone()).chain(rest.cloned()).collect();
            break;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let flag_error = |message: &str| EntrypointError::Flag {
            flag: format!("-{name}"),
            message: message.to_string(),
        };
        if name == "wait_file_content" {
            options.wait_file_content = match inline.as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(_) => return Err(flag_error("expects true or false")),
            };
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => rest.next().cloned().ok_or_else(|| flag_error("needs a value"))?,
        };
        match name {
            "wait_file" => {
                options.wait_file = Some(value.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "post_file" => {
                options.post_file = Some(value.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "termination_path" => options.termination_path = value.into(),
            "step_metadata_dir" => options.step_metadata_dir = Some(value.into()),
            "results" => {
                options.results = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "results_dir" => options.results_dir = value.into(),
            "on_error" => {
                options.on_error = match value.as_str() {
                    "continue" => OnError::Continue,
                    "stopAndFail" | "" => OnError::StopAndFail,
                    other => {
                        return Err(flag_error(&format!(
                            "{other:?} is not one of continue, stopAndFail"
                        )));
                    }
                };
            }
            "timeout" => {
                let timeout = crate::duration::parse(&value).map_err(|e| flag_error(&e.to_string()))?;
                options.timeout = (!timeout.is_zero()).then_some(timeout);
            }
            "entrypoint" => options.entrypoint = value,
            "max_termination_message" => {
                options.max_message = value.parse().map_err(|_| flag_error("expects a byte count"))?;
            }
            _ => return Err(flag_error("unknown flag")),
        }
    }
    if options.entrypoint.is_empty() {
        if options.args.is_empty() {
            return Err(EntrypointError::Usage(
                "no -entrypoint and no command given".into(),
            ));
        }
        options.entrypoint = options.args.remove(0);
    }
    Ok(options)
}

/// One entry of the termination message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageEntry {
    pub key: String,
    pub value: String,
    #[serde(rename = "type")]
    pub type_: u8,
}

impl MessageEntry {
    fn internal(key: &str, value: impl Into<String>) -> MessageEntry {
        MessageEntry {
            key: key.to_string(),
            value: value.into(),
            type_: INTERNAL_RESULT_TYPE,
        }
    }
}

/// How waiting ended.
enum Waited {
    Ready,
    /// The previous step failed (`<wait_file>.err`).
    PreviousFailed,
}

fn wait_for(file: &Path, want_content: bool) -> Waited {
    let mut err_file = file.as_os_str().to_owned();
    err_file.push(".err");
    let err_file = PathBuf::from(err_file);
    loop {
        if let Ok(meta) = std::fs::metadata(file)
            && (!want_content || meta.len() > 0)
        {
            return Waited::Ready;
        }
        if err_file.exists() {
            return Waited::PreviousFailed;
        }
        std::thread::sleep(POLL);
    }
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), EntrypointError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    std::fs::write(path, contents).map_err(io_error(path))
}

fn post(options: &Options, failed: bool) -> Result<(), EntrypointError> {
    let Some(post_file) = &options.post_file else {
        return Ok(());
    };
    let path = if failed {
        let mut name = post_file.as_os_str().to_owned();
        name.push(".err");
        PathBuf::from(name)
    } else {
        post_file.clone()
    };
    write_file(&path, b"")
}

fn write_message(options: &Options, entries: &[MessageEntry]) -> Result<(), EntrypointError> {
    let text = serde_json::to_string(entries).unwrap_or_else(|_| "[]".into());
    write_file(&options.termination_path, text.as_bytes())
}

/// How the command ended.
enum Ran {
    Exited(i32),
    TimedOut,
}

fn run_command(options: &Options) -> Ran {
    let mut child = match Command::new(&options.entrypoint).args(&options.args).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("entrypoint: cannot run {:?}: {error}", options.entrypoint);
            return Ran::Exited(1);
        }
    };
    let deadline = options.timeout.map(|t| Instant::now() + t);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt as _;
                let code = status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(1);
                return Ran::Exited(code);
            }
            Ok(None) => {}
            Err(error) => {
                eprintln!("entrypoint: waiting for {:?}: {error}", options.entrypoint);
                return Ran::Exited(1);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Ran::TimedOut;
        }
        std::thread::sleep(POLL);
    }
}

fn now_text() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Runs one step as the wrapper does; returns the container's exit code.
pub fn run(options: &Options) -> Result<i32, EntrypointError> {
    let mut entries = Vec::new();
    if let Some(wait_file) = &options.wait_file
        && let Waited::PreviousFailed = wait_for(wait_file, options.wait_file_content)
    {
        post(options, true)?;
        entries.push(MessageEntry::internal("Reason", "Skipped"));
        write_message(options, &entries)?;
        return Ok(1);
    }
    entries.push(MessageEntry::internal("StartedAt", now_text()));
    let (code, mut failed) = match run_command(options) {
        Ran::Exited(0) => (0, false),
        Ran::Exited(code) if options.on_error == OnError::Continue => {
            entries.push(MessageEntry::internal("ExitCode", code.to_string()));
            (code, false)
        }
        Ran::Exited(code) => (code, true),
        Ran::TimedOut => {
            eprintln!(
                "entrypoint: {:?} exceeded its timeout of {}",
                options.entrypoint,
                options.timeout.map(crate::duration::format).unwrap_or_default()
            );
            entries.push(MessageEntry::internal("Reason", "TimeoutExceeded"));
            (1, true)
        }
    };
    if let Some(dir) = &options.step_metadata_dir {
        write_file(&dir.join("exitCode"), code.to_string().as_bytes())?;
    }
    for name in &options.results {
        let path = options.results_dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => entries.push(MessageEntry {
                key: name.clone(),
                value: String::from_utf8_lossy(&bytes).into_owned(),
                type_: TASK_RESULT_TYPE,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(&path)(error)),
        }
    }
    let size = serde_json::to_string(&entries).map_or(0, |t| t.len());
    let mut exit = if failed { code } else { 0 };
    if size > options.max_message {
        eprintln!(
            "entrypoint: Termination message is above max allowed size {}, caused by large task result.",
            options.max_message
        );
        entries.retain(|e| e.type_ == INTERNAL_RESULT_TYPE);
        failed = true;
        exit = 1;
    }
    post(options, failed)?;
    write_message(options, &entries)?;
    Ok(exit)
}

/// `init SRC DST STEP…` under `steps_dir` (`/tekton/steps`) and `run_root` (`/tekton/run`).
pub fn install(
    source: &Path,
    destination: &Path,
    steps_dir: &Path,
    run_root: &Path,
    steps: &[String],
) -> Result<(), EntrypointError> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    std::fs::copy(source, destination).map_err(io_error(destination))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(destination, std::fs::Permissions::from_mode(0o755))
        .map_err(io_error(destination))?;
    std::fs::create_dir_all(steps_dir).map_err(io_error(steps_dir))?;
    for (index, step) in steps.iter().enumerate() {
        let target = run_root.join(index.to_string()).join("status");
        for link in [steps_dir.join(step), steps_dir.join(index.to_string())] {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).map_err(io_error(&link))?;
        }
    }
    Ok(())
}

/// `place-scripts PATH=BASE64…`: writes each script, executable.
pub fn place_scripts(specs: &[String]) -> Result<(), EntrypointError> {
    use std::os::unix::fs::PermissionsExt as _;
    for spec in specs {
        let (path, body) = spec
            .split_once('=')
            .ok_or_else(|| EntrypointError::Usage(format!("place-scripts: {spec:?} is not PATH=BASE64")))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| EntrypointError::Usage(format!("place-scripts: {path}: {e}")))?;
        let path = Path::new(path);
        write_file(path, &bytes)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io_error(path))?;
    }
    Ok(())
}

/// The whole command line after `ferry entrypoint` (or of `/tekton/bin/entrypoint`);
/// returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let result = match args.first().map(String::as_str) {
        Some("init") => match args.get(1..3) {
            Some([source, destination]) => install(
                Path::new(source),
                Path::new(destination),
                Path::new(crate::resolve::STEPS_DIR),
                Path::new("/tekton/run"),
                args.get(3..).unwrap_or_default(),
            )
            .map(|()| 0),
            _ => Err(EntrypointError::Usage(
                "usage: entrypoint init SRC DST [STEP…]".into(),
            )),
        },
        Some("place-scripts") => place_scripts(args.get(1..).unwrap_or_default()).map(|()| 0),
        _ => parse(args).and_then(|options| run(&options)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "entrypoint: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "ferry-entrypoint-{label}-{}-{}",
                std::process::id(),
                jiff::Timestamp::now().as_nanosecond()
            ));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Flags for step `index` under `dir`, running `sh -c script`.
    fn step_args(dir: &Path, index: usize, extra: &[&str], script: &str) -> Vec<String> {
        let d = dir.display();
        let mut args = Vec::new();
        if index > 0 {
            args.extend(["-wait_file".to_string(), format!("{d}/run/{}/out", index - 1)]);
        }
        args.extend([
            "-post_file".to_string(),
            format!("{d}/run/{index}/out"),
            "-termination_path".to_string(),
            format!("{d}/termination-{index}"),
            "-step_metadata_dir".to_string(),
            format!("{d}/run/{index}/status"),
            "-results_dir".to_string(),
            format!("{d}/results"),
        ]);
        args.extend(strings(extra));
        args.extend(strings(&["-entrypoint", "sh", "--", "-c", script]));
        args
    }

    fn message(dir: &Path, index: usize) -> Vec<MessageEntry> {
        let text =
            std::fs::read_to_string(dir.join(format!("termination-{index}"))).expect("termination message");
        serde_json::from_str(&text).expect("message JSON")
    }

    fn keys(entries: &[MessageEntry]) -> Vec<(String, String, u8)> {
        entries
            .iter()
            .filter(|e| e.key != "StartedAt")
            .map(|e| (e.key.clone(), e.value.clone(), e.type_))
            .collect()
    }

    #[test]
    fn parses_tekton_flags() {
        let options = parse(&strings(&[
            "-wait_file",
            "/tekton/run/0/out",
            "-post_file=/tekton/run/1/out",
            "--termination_path",
            "/t",
            "-step_metadata_dir",
            "/tekton/run/1/status",
            "-results",
            "a,b",
            "-on_error",
            "continue",
            "-timeout",
            "1m30s",
            "-wait_file_content",
            "-entrypoint",
            "/bin/sh",
            "--",
            "-c",
            "echo",
        ]))
        .expect("parses");
        assert_eq!(options.wait_file.as_deref(), Some(Path::new("/tekton/run/0/out")));
        assert_eq!(options.post_file.as_deref(), Some(Path::new("/tekton/run/1/out")));
        assert_eq!(options.termination_path, Path::new("/t"));
        assert_eq!(options.results, ["a", "b"]);
        assert_eq!(options.on_error, OnError::Continue);
        assert_eq!(options.timeout, Some(Duration::from_secs(90)));
        assert!(options.wait_file_content);
        assert_eq!(
            (options.entrypoint.as_str(), options.args.clone()),
            ("/bin/sh", strings(&["-c", "echo"]))
        );
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["-on_error", "sometimes", "-entrypoint", "x"],
                "flag -on_error: \"sometimes\" is not one of continue, stopAndFail",
            ),
            (vec!["-bogus", "1"], "flag -bogus: unknown flag"),
            (vec!["-timeout"], "flag -timeout: needs a value"),
            (vec!["-post_file", "/x"], "no -entrypoint and no command given"),
        ];
        for (args, expected) in cases {
            let error = parse(&strings(&args)).expect_err("invalid");
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn steps_hand_over_through_post_files() {
        let scratch = Scratch::new("handover");
        let dir = &scratch.0;
        std::fs::create_dir_all(dir.join("results")).expect("results dir");
        // Step 1 starts first and must wait for step 0's post file.
        let second = {
            let args = step_args(dir, 1, &["-results", "greeting,missing"], "true");
            std::thread::spawn(move || run(&parse(&args).expect("parses")).expect("runs"))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!dir.join("run/1/out").exists(), "step 1 must wait for step 0");
        let first_script = format!("printf hello > {}/results/greeting", dir.display());
        let first =
            run(&parse(&step_args(dir, 0, &["-results", "greeting"], &first_script)).expect("parses"))
                .expect("runs");
        assert_eq!(first, 0);
        assert_eq!(second.join().expect("thread"), 0);
        for i in [0, 1] {
            assert!(dir.join(format!("run/{i}/out")).exists());
            assert_eq!(
                std::fs::read_to_string(dir.join(format!("run/{i}/status/exitCode"))).expect("exitCode"),
                "0"
            );
        }
        let entries = message(dir, 0);
        assert_eq!(
            entries.first().map(|e| (e.key.as_str(), e.type_)),
            Some(("StartedAt", 3))
        );
        assert_eq!(keys(&entries), [("greeting".to_string(), "hello".to_string(), 1)]);
        let raw = std::fs::read_to_string(dir.join("termination-0")).expect("raw");
        assert!(
            raw.ends_with(r#"{"key":"greeting","value":"hello","type":1}]"#),
            "{raw}"
        );
    }

    #[test]
    fn failures_continue_skip_and_time_out() {
        let scratch = Scratch::new("failures");
        let dir = &scratch.0;
        // (index, extra flags, script, exit code, post file written, termination keys)
        type Case<'a> = (
            usize,
            Vec<&'a str>,
            &'a str,
            i32,
            &'a str,
            Vec<(&'a str, &'a str)>,
        );
        let cases: Vec<Case<'_>> = vec![
            (0, vec![], "exit 3", 3, "out.err", vec![]),
            // Step 1 waits on step 0, which failed: skipped.
            (1, vec![], "echo never", 1, "out.err", vec![("Reason", "Skipped")]),
        ];
        for (index, extra, script, code, post_file, expected) in cases {
            let exit = run(&parse(&step_args(dir, index, &extra, script)).expect("parses")).expect("runs");
            assert_eq!(exit, code, "step {index}");
            assert!(
                dir.join(format!("run/{index}/{post_file}")).exists(),
                "step {index} {post_file}"
            );
            let got = keys(&message(dir, index));
            let want: Vec<(String, String, u8)> = expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string(), 3))
                .collect();
            assert_eq!(got, want, "step {index}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("run/0/status/exitCode")).expect("code"),
            "3"
        );
        assert!(
            !dir.join("run/1/status/exitCode").exists(),
            "a skipped step does not run"
        );

        let scratch = Scratch::new("continue");
        let dir = &scratch.0;
        let exit = run(&parse(&step_args(dir, 0, &["-on_error", "continue"], "exit 4")).expect("parses"))
            .expect("runs");
        assert_eq!(exit, 0, "onError continue exits 0");
        assert!(dir.join("run/0/out").exists());
        assert_eq!(
            keys(&message(dir, 0)),
            [("ExitCode".to_string(), "4".to_string(), 3)]
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("run/0/status/exitCode")).expect("code"),
            "4"
        );

        let started = Instant::now();
        let exit = run(&parse(&step_args(dir, 1, &["-timeout", "200ms"], "sleep 20")).expect("parses"))
            .expect("runs");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "killed at its timeout"
        );
        assert_eq!(exit, 1);
        assert!(dir.join("run/1/out.err").exists());
        assert_eq!(
            keys(&message(dir, 1)),
            [("Reason".to_string(), "TimeoutExceeded".to_string(), 3)]
        );
    }

    #[test]
    fn oversized_results_fail_the_step() {
        let scratch = Scratch::new("large");
        let dir = &scratch.0;
        let script = format!(
            "mkdir -p {d}/results; head -c 5000 /dev/zero | tr '\\0' x > {d}/results/big",
            d = dir.display()
        );
        let exit =
            run(&parse(&step_args(dir, 0, &["-results", "big"], &script)).expect("parses")).expect("runs");
        assert_eq!(exit, 1);
        assert!(dir.join("run/0/out.err").exists());
        assert!(keys(&message(dir, 0)).is_empty(), "the result is dropped");
        // The same result within the limit passes (a fresh dir: a step after the failed
        // one would be skipped).
        let scratch = Scratch::new("small");
        let dir = &scratch.0;
        let script = format!(
            "mkdir -p {d}/results; printf small > {d}/results/big",
            d = dir.display()
        );
        let exit =
            run(&parse(&step_args(dir, 0, &["-results", "big"], &script)).expect("parses")).expect("runs");
        assert_eq!(exit, 0);
        assert_eq!(
            keys(&message(dir, 0)),
            [("big".to_string(), "small".to_string(), 1)]
        );
    }

    #[test]
    fn init_installs_the_binary_and_scripts() {
        let scratch = Scratch::new("init");
        let dir = &scratch.0;
        let source = dir.join("ferry");
        std::fs::write(&source, "#!/bin/sh\necho wrapper\n").expect("source");
        let steps = dir.join("steps");
        install(
            &source,
            &dir.join("bin/entrypoint"),
            &steps,
            &dir.join("run"),
            &strings(&["step-a", "step-b"]),
        )
        .expect("installs");
        assert_eq!(
            std::fs::read_to_string(dir.join("bin/entrypoint")).expect("copied"),
            "#!/bin/sh\necho wrapper\n"
        );
        assert_eq!(
            std::fs::read_link(steps.join("step-b")).expect("link"),
            dir.join("run/1/status")
        );
        assert_eq!(
            std::fs::read_link(steps.join("0")).expect("link"),
            dir.join("run/0/status")
        );
        let script = dir.join("scripts/script-0-abcde");
        let encoded = base64::engine::general_purpose::STANDARD.encode("#!/bin/sh\nset -e\necho hi\n");
        place_scripts(&[format!("{}={encoded}", script.display())]).expect("places");
        let output = Command::new(&script).output().expect("runs the script");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");
        let error = place_scripts(&strings(&["no-equals"])).expect_err("bad spec");
        assert_eq!(
            error.to_string(),
            "place-scripts: \"no-equals\" is not PATH=BASE64"
        );
    }
}
