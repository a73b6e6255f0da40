//! The local executor: runs a prepared TaskRun's steps in order as sandboxed host
//! processes ([`super::sandbox`]), with Tekton's container paths, and reports an
//! [`ExecutionOutcome`] for [`crate::taskrun::finish_attempt`].
//!
//! Paths inside the sandbox, as Tekton lays them out in a Pod:
//! `/workspace` (shared by all steps), `/tekton/results`, `/tekton/home`, `/tekton/run/<i>`,
//! `/tekton/steps/step-<name>/exitCode`, `/tekton/scripts`, each workspace at its mount
//! path, and Secret/ConfigMap volumes as read-only files at their `mountPath`.
//!
//! Image policy: a step's `image` is recorded in its status, never pulled; the step runs
//! with the host's userland. `PATH` starts with `/ferry/bin`, where the configured tools
//! directory is mounted (Ferry's `argocd`, `ferry`/`tkn` and a `kubectl`), and `KUBECONFIG`
//! points at `/ferry/kubeconfig` when one is configured. Steps with neither `script` nor
//! `command` use a small table of well-known images' entrypoints ([`image_entrypoint`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_types::tekton::v1::TaskRun;
use ferry_types::tekton::{Step, WorkspaceBinding};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{KeyToPath, Volume};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc, watch};

use super::ObjectSource;
use super::sandbox::{self, BindMount};
use crate::conditions::task_run as reason;
use crate::taskrun::{ExecutionOutcome, PreparedTaskRun, StepEnd, StepOutcome, TaskRunFailure};

/// Where the executor keeps its files.
#[derive(Clone, Debug)]
pub struct LocalExecutorConfig {
    /// Parent of every TaskRun's temporary directory (removed when the attempt ends).
    pub work_dir: PathBuf,
    /// Step logs: `<logs_dir>/<namespace>/<taskrun>/<step>.log`.
    pub logs_dir: PathBuf,
    /// Persistent-volume-claim workspaces: `<volumes_dir>/<namespace>/<claim>`.
    pub volumes_dir: PathBuf,
    /// Mounted read-only at `/ferry/bin`, first on `PATH`.
    pub tools_dir: Option<PathBuf>,
    /// Single executables bind-mounted read-only as `/ferry/bin/<name>` (e.g. `argocd`,
    /// `tkn` and `ferry` → Ferry's binary, which dispatches on its invoked name; `kubectl` →
    /// the host's). Files are mounted, not symlinked, because the sandbox's root shows only
    /// the host's root filesystem, not other mounts a symlink might point into.
    pub tools: BTreeMap<String, PathBuf>,
    /// Mounted read-only at `/ferry/kubeconfig`; `KUBECONFIG` points at it.
    pub kubeconfig: Option<PathBuf>,
    /// Each step's log is cut after this many bytes.
    pub max_log_bytes: u64,
    /// Keep TaskRun directories after the attempt (debugging).
    pub keep_run_dirs: bool,
    /// The in-namespace setup program and its leading arguments (`ferry sandbox-init`, or
    /// this crate's `ferry-sandbox-init`); `None` uses the slower shell-script setup.
    pub init_program: Option<Vec<String>>,
}

impl LocalExecutorConfig {
    /// Everything under one data directory.
    pub fn under(data_dir: &Path) -> Self {
        LocalExecutorConfig {
            work_dir: data_dir.join("pipelines/runs"),
            logs_dir: data_dir.join("pipelines/logs"),
            volumes_dir: data_dir.join("pipelines/volumes"),
            tools_dir: None,
            tools: BTreeMap::new(),
            kubeconfig: None,
            max_log_bytes: 10 * 1024 * 1024,
            keep_run_dirs: false,
            init_program: None,
        }
    }

    /// The log file of one step.
    pub fn log_path(&self, namespace: &str, task_run: &str, step: &str) -> PathBuf {
        self.logs_dir
            .join(namespace)
            .join(task_run)
            .join(format!("{step}.log"))
    }
}

/// One line of step output, for live streaming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub task_run: String,
    pub step: String,
    pub line: String,
}

/// Cancellation and live logs of one attempt.
#[derive(Clone, Debug)]
pub struct RunControl {
    /// Becomes `true` when the TaskRun is cancelled.
    pub cancel: watch::Receiver<bool>,
    /// Receives every output line as it is written.
    pub logs: Option<mpsc::UnboundedSender<LogLine>>,
}

impl RunControl {
    /// No cancellation, no live logs.
    pub fn detached() -> Self {
        let (_sender, cancel) = watch::channel(false);
        RunControl { cancel, logs: None }
    }
}

/// Runs TaskRuns on this machine.
pub struct LocalExecutor<S> {
    pub config: LocalExecutorConfig,
    pub objects: S,
}

const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TOOLS_MOUNT: &str = "/ferry/bin";
const KUBECONFIG_MOUNT: &str = "/ferry/kubeconfig";

/// What a well-known image runs when the step has neither `script` nor `command`
/// (Tekton asks the registry; Ferry has no registry, so it knows a few images).
pub fn image_entrypoint(image: &str, args: &[String]) -> Vec<String> {
    let repository = image.split(['@', ':']).next().unwrap_or(image);
    let short = repository.rsplit('/').next().unwrap_or(repository);
    match (short, args.first()) {
        // The official bash image's docker-entrypoint.sh: `bash "$@"` for flags.
        ("bash", Some(first)) if first.starts_with('-') => std::iter::once("bash".to_string())
            .chain(args.iter().cloned())
            .collect(),
        (_, Some(_)) => args.to_vec(),
        ("ubuntu" | "debian" | "bash", None) => vec!["/bin/bash".into()],
        (_, None) => vec!["sh".into()],
    }
}

/// The script file Tekton would write: `#!/bin/sh` + `set -e` unless it has a shebang.
pub fn script_file_contents(script: &str) -> String {
    if script.trim_start().starts_with("#!") {
        script.trim_start().to_string()
    } else {
        format!("#!/bin/sh\nset -e\n{script}")
    }
}

fn failure(message: String) -> TaskRunFailure {
    TaskRunFailure {
        reason: reason::CREATE_CONTAINER_CONFIG_ERROR,
        message,
    }
}

fn safe_component(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `data` as files under `dir`, honouring `items` (key → relative path).
async fn write_files(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let entries: Vec<(String, &Vec<u8>)> = match items {
        Some(items) if !items.is_empty() => items
            .iter()
            .filter_map(|item| data.get(&item.key).map(|bytes| (item.path.clone(), bytes)))
            .collect(),
        _ => data.iter().map(|(k, v)| (k.clone(), v)).collect(),
    };
    for (relative, bytes) in entries {
        if relative.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(format!("invalid key path {relative:?}"));
        }
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A volume made available on the host.
#[derive(Clone, Debug)]
struct HostVolume {
    path: PathBuf,
    /// Secrets and ConfigMaps are always mounted read-only.
    read_only: bool,
}

struct Attempt<'a> {
    run_dir: PathBuf,
    namespace: &'a str,
    task_run: &'a str,
}

impl<S: ObjectSource> LocalExecutor<S> {
    pub fn new(config: LocalExecutorConfig, objects: S) -> Self {
        LocalExecutor { config, objects }
    }

    /// Removes TaskRun directories left behind by an earlier process (a crash, or an exit
    /// before background clean-up finished). Call once at start-up, before any run.
    pub async fn sweep_stale_runs(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut entries = match tokio::fs::read_dir(&self.config.work_dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if tokio::fs::remove_dir_all(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn materialize_volume(
        &self,
        attempt: &Attempt<'_>,
        volume: &Volume,
    ) -> Result<HostVolume, TaskRunFailure> {
        let dir = attempt.run_dir.join("volumes").join(safe_component(&volume.name));
        if let Some(secret) = &volume.secret {
            let name = secret.secret_name.clone().unwrap_or_default();
            let data = self
                .objects
                .secret(attempt.namespace, &name)
                .await
                .map_err(|e| failure(format!("reading secret {name:?}: {e}")))?;
            match data {
                Some(data) => write_files(&dir, &data, secret.items.as_ref())
                    .await
                    .map_err(failure)?,
                None if secret.optional == Some(true) => {
                    write_files(&dir, &BTreeMap::new(), None).await.map_err(failure)?
                }
                None => {
                    return Err(failure(format!(
                        "secret {name:?} not found: volume {:?} of TaskRun {:?} cannot be mounted",
                        volume.name, attempt.task_run
                    )));
                }
            }
            return Ok(HostVolume {
                path: dir,
                read_only: true,
            });
        }
        if let Some(config_map) = &volume.config_map {
            let name = config_map.name.clone();
            let data = self
                .objects
                .config_map(attempt.namespace, &name)
                .await
                .map_err(|e| failure(format!("reading configmap {name:?}: {e}")))?;
            match data {
                Some(data) => write_files(&dir, &data, config_map.items.as_ref())
                    .await
                    .map_err(failure)?,
                None if config_map.optional == Some(true) => {
                    write_files(&dir, &BTreeMap::new(), None).await.map_err(failure)?
                }
                None => {
                    return Err(failure(format!(
                        "configmap {name:?} not found: volume {:?} of TaskRun {:?} cannot be mounted",
                        volume.name, attempt.task_run
                    )));
                }
            }
            return Ok(HostVolume {
                path: dir,
                read_only: true,
            });
        }
        if volume.empty_dir.is_some() {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| failure(format!("{}: {e}", dir.display())))?;
            return Ok(HostVolume {
                path: dir,
                read_only: false,
            });
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            let path = self
                .config
                .volumes_dir
                .join(safe_component(attempt.namespace))
                .join(safe_component(&claim.claim_name));
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            return Ok(HostVolume {
                path,
                read_only: claim.read_only == Some(true),
            });
        }
        Err(failure(format!(
            "volume {:?} of TaskRun {:?}: only secret, configMap, emptyDir and persistentVolumeClaim volumes are supported by the local executor",
            volume.name, attempt.task_run
        )))
    }

    async fn materialize_workspace(
        &self,
        attempt: &Attempt<'_>,
        binding: &WorkspaceBinding,
    ) -> Result<HostVolume, TaskRunFailure> {
        let as_volume = |volume: Volume| volume;
        let mut volume = as_volume(Volume {
            name: format!("ws-{}", binding.name),
            ..Default::default()
        });
        let host = if let Some(secret) = &binding.secret {
            volume.secret = Some(secret.clone());
            self.materialize_volume(attempt, &volume).await?
        } else if let Some(config_map) = &binding.config_map {
            volume.config_map = Some(config_map.clone());
            self.materialize_volume(attempt, &volume).await?
        } else if let Some(claim) = binding
            .persistent_volume_claim
            .as_ref()
            .and_then(|c| c.get("claimName"))
            .and_then(|c| c.as_str())
        {
            let path = self
                .config
                .volumes_dir
                .join(safe_component(attempt.namespace))
                .join(safe_component(claim));
            HostVolume {
                path,
                read_only: false,
            }
        } else {
            // emptyDir, volumeClaimTemplate of a standalone TaskRun, projected/csi: a fresh dir.
            HostVolume {
                path: attempt.run_dir.join("ws").join(safe_component(&binding.name)),
                read_only: false,
            }
        };
        let path = match &binding.sub_path {
            Some(sub) if !sub.is_empty() && !sub.split('/').any(|p| p == "..") => host.path.join(sub),
            _ => host.path,
        };
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| failure(format!("{}: {e}", path.display())))?;
        Ok(HostVolume {
            path,
            read_only: host.read_only,
        })
    }

    async fn step_env(
        &self,
        namespace: &str,
        step: &Step,
        step_label: &str,
    ) -> Result<Vec<(String, String)>, TaskRunFailure> {
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                if self.config.tools_dir.is_some() || !self.config.tools.is_empty() {
                    format!("{TOOLS_MOUNT}:{SANDBOX_PATH}")
                } else {
                    SANDBOX_PATH.into()
                },
            ),
            ("HOME".into(), "/root".into()),
        ];
        if self.config.kubeconfig.is_some() {
            env.push(("KUBECONFIG".into(), KUBECONFIG_MOUNT.into()));
        }
        let set = |env: &mut Vec<(String, String)>, name: String, value: String| {
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
        };
        for source in &step.env_from {
            let prefix = source.prefix.clone().unwrap_or_default();
            let (data, what, optional) = if let Some(secret) = &source.secret_ref {
                (
                    self.objects.secret(namespace, &secret.name).await,
                    format!("secret {:?}", secret.name),
                    secret.optional == Some(true),
                )
            } else if let Some(config_map) = &source.config_map_ref {
                (
                    self.objects.config_map(namespace, &config_map.name).await,
                    format!("configmap {:?}", config_map.name),
                    config_map.optional == Some(true),
                )
            } else {
                continue;
            };
            match data.map_err(|e| failure(format!("{step_label}: reading {what}: {e}")))? {
                Some(data) => {
                    for (k, v) in data {
                        set(
                            &mut env,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if optional => {}
                None => return Err(failure(format!("{step_label}: envFrom {what} not found"))),
            }
        }
        for var in &step.env {
            if let Some(value) = &var.value {
                // Kubernetes expands $(VAR) references to earlier variables.
                let mut expanded = value.clone();
                for (k, v) in env.iter() {
                    expanded = expanded.replace(&format!("$({k})"), v);
                }
                set(&mut env, var.name.clone(), expanded);
                continue;
            }
            let Some(from) = &var.value_from else {
                set(&mut env, var.name.clone(), String::new());
                continue;
            };
            let (data, what, key, optional) = if let Some(r) = &from.secret_key_ref {
                (
                    self.objects.secret(namespace, &r.name).await,
                    format!("secret {:?}", r.name),
                    r.key.clone(),
                    r.optional == Some(true),
                )
            } else if let Some(r) = &from.config_map_key_ref {
                (
                    self.objects.config_map(namespace, &r.name).await,
                    format!("configmap {:?}", r.name),
                    r.key.clone(),
                    r.optional == Some(true),
                )
            } else {
                return Err(failure(format!(
                    "{step_label}: env {:?}: only secretKeyRef and configMapKeyRef are supported locally",
                    var.name
                )));
            };
            let data = data.map_err(|e| failure(format!("{step_label}: reading {what}: {e}")))?;
            match data.as_ref().and_then(|d| d.get(&key)) {
                Some(bytes) => set(
                    &mut env,
                    var.name.clone(),
                    String::from_utf8_lossy(bytes).into_owned(),
                ),
                None if optional => {}
                None if data.is_none() => {
                    return Err(failure(format!(
                        "{step_label}: env {:?}: {what} not found",
                        var.name
                    )));
                }
                None => {
                    return Err(failure(format!(
                        "{step_label}: env {:?}: key {key:?} not found in {what}",
                        var.name
                    )));
                }
            }
        }
        Ok(env)
    }

    /// Runs one attempt of a TaskRun. Never panics on input; every failure becomes part
    /// of the outcome.
    pub async fn run(
        &self,
        task_run: &TaskRun,
        prepared: &PreparedTaskRun,
        control: RunControl,
    ) -> ExecutionOutcome {
        let started = Instant::now();
        let namespace = prepared.namespace.as_str();
        let unique = Timestamp::now().as_nanosecond();
        let run_dir = self.config.work_dir.join(format!(
            "{}_{}_{unique}",
            safe_component(namespace),
            safe_component(&prepared.name)
        ));
        let attempt = Attempt {
            run_dir: run_dir.clone(),
            namespace,
            task_run: &prepared.name,
        };
        let outcome = self.run_in(&attempt, task_run, prepared, control, started).await;
        if !self.config.keep_run_dirs {
            // Removing the directory waits for the kernel to tear down the step's mount
            // namespace (tens of milliseconds), so it happens off the critical path.
            tokio::spawn(async move {
                let _ = tokio::fs::remove_dir_all(&run_dir).await;
            });
        }
        outcome
    }

    async fn run_in(
        &self,
        attempt: &Attempt<'_>,
        task_run: &TaskRun,
        prepared: &PreparedTaskRun,
        mut control: RunControl,
        started: Instant,
    ) -> ExecutionOutcome {
        let mut outcome = ExecutionOutcome {
            steps: Vec::new(),
            results: BTreeMap::new(),
            setup_failure: None,
            timed_out: false,
            cancelled: false,
        };
        let skipped_all = |outcome: &mut ExecutionOutcome, from: usize| {
            for (i, step) in prepared.spec.steps.iter().enumerate().skip(from) {
                outcome.steps.push(StepOutcome {
                    name: prepared.step_names.get(i).cloned().unwrap_or_default(),
                    image: step.image.clone(),
                    end: StepEnd::Skipped,
                    started_at: None,
                    finished_at: None,
                });
            }
        };
        let tekton = attempt.run_dir.join("tekton");
        let setup = async {
            let run_dir = attempt.run_dir.clone();
            blocking(move || {
                for dir in [
                    "root",
                    "upper",
                    "workspace",
                    "tekton/results",
                    "tekton/home",
                    "tekton/scripts",
                    "tekton/steps",
                    "tekton/run",
                ] {
                    std::fs::create_dir_all(run_dir.join(dir))?;
                }
                Ok(())
            })
            .await
            .map_err(|e| failure(format!("creating sandbox: {e}")))?;
            let mut volumes: BTreeMap<String, HostVolume> = BTreeMap::new();
            for volume in &prepared.spec.volumes {
                volumes.insert(
                    volume.name.clone(),
                    self.materialize_volume(attempt, volume).await?,
                );
            }
            let mut workspaces: Vec<(String, String, HostVolume)> = Vec::new();
            for declared in &prepared.spec.workspaces {
                if let Some(binding) = task_run.spec.workspaces.iter().find(|b| b.name == declared.name) {
                    let mut host = self.materialize_workspace(attempt, binding).await?;
                    host.read_only |= declared.read_only;
                    workspaces.push((declared.name.clone(), declared.effective_mount_path(), host));
                }
            }
            Ok::<_, TaskRunFailure>((volumes, workspaces))
        };
        let (volumes, workspaces) = match setup.await {
            Ok(v) => v,
            Err(failure) => {
                outcome.setup_failure = Some(failure);
                return outcome;
            }
        };

        let run_deadline = prepared.timeout.map(|t| started + t);
        let mut failed = false;
        for (index, step) in prepared.spec.steps.iter().enumerate() {
            let step_name = prepared
                .step_names
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("unnamed-{index}"));
            let container = format!("step-{step_name}");
            if failed {
                skipped_all(&mut outcome, index);
                break;
            }
            let step_status = tekton.join("run").join(index.to_string()).join("status");
            let prepared_step = async {
                let script_file = step.script.as_ref().map(|script| {
                    let file = format!("script-{index}-{}", safe_component(&step_name));
                    (
                        tekton.join("scripts").join(&file),
                        file,
                        script_file_contents(script),
                    )
                });
                {
                    let step_status = step_status.clone();
                    let steps_dir = tekton.join("steps");
                    let link_name = container.clone();
                    let script_file = script_file.clone();
                    blocking(move || {
                        std::fs::create_dir_all(&step_status)?;
                        let target = format!("../run/{index}/status");
                        let _ = std::os::unix::fs::symlink(&target, steps_dir.join(&link_name));
                        let _ = std::os::unix::fs::symlink(&target, steps_dir.join(index.to_string()));
                        if let Some((host_path, _, contents)) = script_file {
                            use std::os::unix::fs::PermissionsExt;
                            std::fs::write(&host_path, contents)?;
                            std::fs::set_permissions(&host_path, std::fs::Permissions::from_mode(0o755))?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| failure(format!("preparing step {container:?}: {e}")))?;
                }
                let env = self
                    .step_env(attempt.namespace, step, &format!("step {container:?}"))
                    .await?;
                let mut command: Vec<String> = if let Some((_, file, _)) = &script_file {
                    std::iter::once(format!("/tekton/scripts/{file}"))
                        .chain(step.args.iter().cloned())
                        .collect()
                } else if !step.command.is_empty() {
                    step.command.iter().chain(step.args.iter()).cloned().collect()
                } else {
                    image_entrypoint(&step.image, &step.args)
                };
                if command.is_empty() {
                    command.push("sh".into());
                }
                let mut mounts = vec![
                    BindMount {
                        source: tekton.clone(),
                        target: "/tekton".into(),
                        read_only: false,
                    },
                    BindMount {
                        source: attempt.run_dir.join("workspace"),
                        target: "/workspace".into(),
                        read_only: false,
                    },
                ];
                if let Some(tools) = &self.config.tools_dir {
                    mounts.push(BindMount {
                        source: tools.clone(),
                        target: TOOLS_MOUNT.into(),
                        read_only: true,
                    });
                }
                for (name, path) in &self.config.tools {
                    if name.is_empty() || name.contains('/') {
                        continue;
                    }
                    mounts.push(BindMount {
                        source: path.clone(),
                        target: format!("{TOOLS_MOUNT}/{name}"),
                        read_only: true,
                    });
                }
                if let Some(kubeconfig) = &self.config.kubeconfig {
                    mounts.push(BindMount {
                        source: kubeconfig.clone(),
                        target: KUBECONFIG_MOUNT.into(),
                        read_only: true,
                    });
                }
                for (name, mount_path, host) in &workspaces {
                    let target = step
                        .workspaces
                        .iter()
                        .find(|w| &w.name == name && !w.mount_path.is_empty())
                        .map_or(mount_path.clone(), |w| w.mount_path.clone());
                    mounts.push(BindMount {
                        source: host.path.clone(),
                        target,
                        read_only: host.read_only,
                    });
                }
                for mount in &step.volume_mounts {
                    let Some(host) = volumes.get(&mount.name) else {
                        return Err(failure(format!(
                            "step {container:?}: volumeMount {:?} refers to an undeclared volume",
                            mount.name
                        )));
                    };
                    let source = match mount.sub_path.as_deref() {
                        Some(sub) if !sub.is_empty() && !sub.split('/').any(|p| p == "..") => {
                            host.path.join(sub)
                        }
                        _ => host.path.clone(),
                    };
                    mounts.push(BindMount {
                        source,
                        target: mount.mount_path.clone(),
                        read_only: host.read_only || mount.read_only == Some(true),
                    });
                }
                // Parents before children, so nested mounts are not hidden.
                mounts.sort_by_key(|m| m.target.matches('/').count());
                let working_dir = match step.working_dir.as_deref() {
                    Some(dir) if dir.starts_with('/') => dir.to_string(),
                    Some(dir) if !dir.is_empty() => format!("/workspace/{dir}"),
                    _ => "/".to_string(),
                };
                Ok::<_, TaskRunFailure>((
                    sandbox::command_line(
                        self.config.init_program.as_deref(),
                        &attempt.run_dir.join("root"),
                        &attempt.run_dir.join("upper"),
                        &mounts,
                        &working_dir,
                        &command,
                    ),
                    env,
                ))
            };
            let (argv, env) = match prepared_step.await {
                Ok(v) => v,
                Err(failure) => {
                    outcome.setup_failure = Some(failure);
                    skipped_all(&mut outcome, index);
                    return outcome;
                }
            };
            let step_timeout = step
                .timeout
                .as_deref()
                .and_then(|t| crate::duration::parse(t).ok())
                .filter(|t| !t.is_zero());
            let step_started = Timestamp::now();
            let log_path = self
                .config
                .log_path(attempt.namespace, attempt.task_run, &step_name);
            let end = self
                .run_process(
                    &argv,
                    &env,
                    &log_path,
                    &step_name,
                    attempt.task_run,
                    step_timeout,
                    run_deadline,
                    &mut control,
                )
                .await;
            let finished = Timestamp::now();
            let (end, stop) = match end {
                ProcessEnd::Exited(code) => {
                    let continued = code != 0 && step.on_error.as_deref() == Some("continue");
                    (StepEnd::Exited { code, continued }, code != 0 && !continued)
                }
                ProcessEnd::StepTimeout => (StepEnd::TimedOut, step.on_error.as_deref() != Some("continue")),
                ProcessEnd::RunTimeout => {
                    outcome.timed_out = true;
                    (StepEnd::Killed, true)
                }
                ProcessEnd::Cancelled => {
                    outcome.cancelled = true;
                    (StepEnd::Killed, true)
                }
                ProcessEnd::SpawnFailed(message) => {
                    outcome.setup_failure = Some(TaskRunFailure {
                        reason: reason::FAILED,
                        message: format!("step {container:?} could not start: {message}"),
                    });
                    (
                        StepEnd::Exited {
                            code: 127,
                            continued: false,
                        },
                        true,
                    )
                }
            };
            let exit_code = match &end {
                StepEnd::Exited { code, .. } => *code,
                _ => 1,
            };
            let _ = tokio::fs::write(step_status.join("exitCode"), exit_code.to_string()).await;
            let marker = if stop { "out.err" } else { "out" };
            let _ = tokio::fs::write(tekton.join("run").join(index.to_string()).join(marker), b"").await;
            outcome.steps.push(StepOutcome {
                name: step_name,
                image: step.image.clone(),
                end,
                started_at: Some(step_started),
                finished_at: Some(finished),
            });
            failed = stop;
        }
        outcome.results = read_results(&tekton.join("results")).await;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_process(
        &self,
        argv: &[String],
        env: &[(String, String)],
        log_path: &Path,
        step: &str,
        task_run: &str,
        step_timeout: Option<Duration>,
        run_deadline: Option<Instant>,
        control: &mut RunControl,
    ) -> ProcessEnd {
        let Some((program, args)) = argv.split_first() else {
            return ProcessEnd::SpawnFailed("empty command".into());
        };
        if let Some(parent) = log_path.parent()
            && let Err(e) = tokio::fs::create_dir_all(parent).await
        {
            return ProcessEnd::SpawnFailed(format!("log directory {}: {e}", parent.display()));
        }
        let log = match tokio::fs::File::create(log_path).await {
            Ok(file) => Arc::new(Mutex::new(BoundedLog {
                file,
                written: 0,
                limit: self.config.max_log_bytes,
                truncated: false,
            })),
            Err(e) => return ProcessEnd::SpawnFailed(format!("log file {}: {e}", log_path.display())),
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return ProcessEnd::SpawnFailed(format!("{program}: {e}")),
        };
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(pump(
                stdout,
                log.clone(),
                control.logs.clone(),
                task_run.to_string(),
                step.to_string(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(pump(
                stderr,
                log.clone(),
                control.logs.clone(),
                task_run.to_string(),
                step.to_string(),
            )));
        }
        let step_deadline = step_timeout.map(|t| Instant::now() + t);
        let sleep_until = |deadline: Option<Instant>| async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        let already_cancelled = *control.cancel.borrow();
        let end = if already_cancelled {
            ProcessEnd::Cancelled
        } else {
            tokio::select! {
                status = child.wait() => match status {
                    Ok(status) => ProcessEnd::Exited(status.code().unwrap_or(137)),
                    Err(e) => ProcessEnd::SpawnFailed(e.to_string()),
                },
                _ = sleep_until(step_deadline) => ProcessEnd::StepTimeout,
                _ = sleep_until(run_deadline) => ProcessEnd::RunTimeout,
                _ = cancelled(&mut control.cancel) => ProcessEnd::Cancelled,
            }
        };
        if !matches!(end, ProcessEnd::Exited(_)) {
            kill_sandbox(&mut child).await;
        }
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        let mut log = log.lock().await;
        let _ = log.file.flush().await;
        end
    }
}

/// Runs blocking file-system work on the blocking pool (one hop instead of one per call).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

/// Kills a step's sandbox: first the PID namespace's init (the `unshare` process's child;
/// the kernel then kills every process in the namespace), then `unshare` itself. Killing
/// only `unshare` would rely on `--kill-child`, which races with a kill right after spawn.
async fn kill_sandbox(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let children = tokio::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .await
            .unwrap_or_default();
        let pids: Vec<&str> = children.split_whitespace().collect();
        if !pids.is_empty() {
            let _ = tokio::process::Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .status()
                .await;
        }
    }
    let _ = child.kill().await;
}

/// Resolves when cancellation is requested; never if the sender is gone without asking.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

enum ProcessEnd {
    Exited(i32),
    StepTimeout,
    RunTimeout,
    Cancelled,
    SpawnFailed(String),
}

struct BoundedLog {
    file: tokio::fs::File,
    written: u64,
    limit: u64,
    truncated: bool,
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    log: Arc<Mutex<BoundedLog>>,
    live: Option<mpsc::UnboundedSender<LogLine>>,
    task_run: String,
    step: String,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut log = log.lock().await;
            let size = line.len() as u64 + 1;
            if log.written + size <= log.limit {
                log.written += size;
                let _ = log.file.write_all(line.as_bytes()).await;
                let _ = log.file.write_all(b"\n").await;
            } else if !log.truncated {
                log.truncated = true;
                let _ = log.file.write_all(b"[ferry: log truncated]\n").await;
            }
        }
        if let Some(live) = &live {
            let _ = live.send(LogLine {
                task_run: task_run.clone(),
                step: step.clone(),
                line,
            });
        }
    }
}

/// Reads a step log from byte `offset` on: the new bytes and the offset to continue from.
/// Following a running step is polling this (`tkn ... logs -f`); a missing file (the step
/// has not started yet) reads as empty.
pub async fn read_log_from(path: &Path, offset: u64) -> std::io::Result<(Vec<u8>, u64)> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    let next = offset + bytes.len() as u64;
    Ok((bytes, next))
}

/// Reads `/tekton/results/*` (at most 1 MiB + 1 byte of each, enough to detect an
/// oversized result without reading an unbounded file).
async fn read_results(dir: &Path) -> BTreeMap<String, String> {
    use tokio::io::AsyncReadExt;
    let mut results = BTreeMap::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return results;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(file) = tokio::fs::File::open(entry.path()).await else {
            continue;
        };
        let mut bytes = Vec::new();
        if file.take(1024 * 1024 + 1).read_to_end(&mut bytes).await.is_ok() {
            results.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_get_tekton_shebang_and_set_e() {
        assert_eq!(script_file_contents("echo hi"), "#!/bin/sh\nset -e\necho hi");
        assert_eq!(
            script_file_contents("\n#!/usr/bin/env bash\necho hi"),
            "#!/usr/bin/env bash\necho hi"
        );
    }

    #[test]
    fn known_images_have_entrypoints() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            image_entrypoint("bash:latest", &args(&["-c", "echo"])),
            ["bash", "-c", "echo"]
        );
        assert_eq!(
            image_entrypoint("docker.io/library/bash", &args(&["echo", "x"])),
            ["echo", "x"]
        );
        assert_eq!(image_entrypoint("busybox", &args(&["echo", "x"])), ["echo", "x"]);
        assert_eq!(image_entrypoint("ubuntu", &[]), ["/bin/bash"]);
        assert_eq!(image_entrypoint("alpine@sha256:abc", &[]), ["sh"]);
    }
}
