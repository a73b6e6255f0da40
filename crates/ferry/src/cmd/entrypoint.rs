//! `ferry entrypoint …` (hidden): the Pod executor's step wrapper, also run as
//! `/tekton/bin/entrypoint` inside a TaskRun's Pod. The flags are Tekton's; the logic lives
//! in [`ferry_pipelines::entrypoint`].

use std::process::ExitCode;

/// Runs the wrapper with everything after `entrypoint` and exits with the step's code.
pub fn run(args: Vec<String>) -> ExitCode {
    let code = ferry_pipelines::entrypoint::main(&args);
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}
