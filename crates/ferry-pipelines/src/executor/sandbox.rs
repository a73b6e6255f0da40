//! The per-step sandbox: a private mount + PID namespace made with util-linux `unshare`.
//!
//! Why `unshare` and not bubblewrap: it is already on every Debian/Ubuntu machine
//! (util-linux), it works as root without setuid helpers, and with `--map-root-user`
//! for unprivileged users on kernels that allow overlayfs in user namespaces (≥ 5.11).
//! bubblewrap would be one more package for the same kernel features.
//!
//! Layout: the host root is mounted as the lower layer of an overlayfs whose upper layer
//! is a tmpfs that lives only inside the namespace, and the step is `chroot`ed into it.
//! So the step sees the host's tools (`sh`, coreutils, `kubectl`…) at their usual paths,
//! can create any path (`/var/secret`, `/workspace`…) and write anywhere, and none of it
//! reaches the host: only the bind-mounted sandbox directories (workspace, `/tekton`,
//! volumes) are shared, and they live under the TaskRun's own temporary directory (or the
//! data directory for persistent-volume workspaces). The PID namespace means killing the
//! `unshare` process (`--kill-child`) kills every process the step started.

use std::path::{Path, PathBuf};

/// One bind mount into the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: String,
    pub read_only: bool,
}

/// Runs inside the new namespaces, before the step: builds the root and execs the step.
/// Arguments: `<root> <upper> (rw|ro <src> <dst>)* -- <workdir> <command...>`.
const SETUP: &str = r#"set -e
root=$1; upper=$2; shift 2
mount -t tmpfs -o mode=0755 ferry-sandbox "$upper"
mkdir "$upper/u" "$upper/w"
mount -t overlay overlay -o "lowerdir=/,upperdir=$upper/u,workdir=$upper/w" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
while [ "$1" != "--" ]; do
  mode=$1; src=$2; dst=$3; shift 3
  if [ -d "$src" ]; then
    mkdir -p "$root$dst"
  else
    mkdir -p "$root$(dirname "$dst")"
    [ -e "$root$dst" ] || : > "$root$dst"
  fi
  mount --bind "$src" "$root$dst"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$root$dst"; fi
done
shift
exec chroot "$root" /bin/sh -c 'wd=$1; shift; mkdir -p "$wd" 2>/dev/null || true; cd "$wd" || { echo "ferry: cannot enter working directory $wd" >&2; exit 1; }; exec "$@"' ferry-step "$@"
"#;

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The `unshare` command line that runs `command` in a sandbox rooted at `root_dir`
/// (an empty directory) with `upper_dir` (another empty directory) for the tmpfs.
///
/// `init` is the in-namespace setup program ([`super::init`], e.g. `ferry sandbox-init`);
/// without one, a shell script with `mount`/`chroot` does the same, more slowly.
pub fn command_line(
    init: Option<&[String]>,
    root_dir: &Path,
    upper_dir: &Path,
    mounts: &[BindMount],
    working_dir: &str,
    command: &[String],
) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "unshare".into(),
        "--mount".into(),
        "--pid".into(),
        "--fork".into(),
        "--kill-child".into(),
        "--propagation".into(),
        "private".into(),
    ];
    if !running_as_root() {
        argv.push("--map-root-user".into());
    }
    argv.push("--".into());
    match init {
        Some(program) if !program.is_empty() => argv.extend(program.iter().cloned()),
        _ => argv.extend([
            "/bin/sh".into(),
            "-c".into(),
            SETUP.into(),
            "ferry-sandbox".into(),
        ]),
    }
    argv.push(root_dir.display().to_string());
    argv.push(upper_dir.display().to_string());
    for mount in mounts {
        argv.push(if mount.read_only { "ro" } else { "rw" }.into());
        argv.push(mount.source.display().to_string());
        argv.push(mount.target.clone());
    }
    argv.push("--".into());
    argv.push(working_dir.to_string());
    argv.extend(command.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_and_command_are_passed_as_arguments_not_interpolated() {
        let argv = command_line(
            None,
            Path::new("/s/root"),
            Path::new("/s/upper"),
            &[BindMount {
                source: "/s/vol/a b".into(),
                target: "/var/secret".into(),
                read_only: true,
            }],
            "/workspace",
            &["sh".into(), "-c".into(), "echo '$(x)'".into()],
        );
        let after_script = argv
            .iter()
            .position(|a| a == "ferry-sandbox")
            .expect("script name");
        assert_eq!(
            &argv[after_script + 1..],
            [
                "/s/root",
                "/s/upper",
                "ro",
                "/s/vol/a b",
                "/var/secret",
                "--",
                "/workspace",
                "sh",
                "-c",
                "echo '$(x)'"
            ]
        );
        assert!(argv.contains(&"--kill-child".to_string()));
        let init = ["/usr/bin/ferry".to_string(), "sandbox-init".to_string()];
        let argv = command_line(
            Some(&init),
            Path::new("/r"),
            Path::new("/u"),
            &[],
            "/",
            &["true".into()],
        );
        let start = argv
            .iter()
            .position(|a| a == "/usr/bin/ferry")
            .expect("init program");
        assert_eq!(
            &argv[start..],
            ["/usr/bin/ferry", "sandbox-init", "/r", "/u", "--", "/", "true"]
        );
    }
}
