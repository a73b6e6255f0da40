//! The in-namespace half of the sandbox, done with direct system calls instead of a
//! shell script running `mount`/`mkdir`/`chroot` (about a dozen processes per step):
//! `unshare … -- <init program> <root> <upper> (rw|ro <src> <dst>)* -- <workdir> <command…>`.
//! The same layout as [`super::sandbox`]'s shell fallback; see there for why.
//!
//! Ferry's binary exposes it as a hidden subcommand; this crate ships it as the small
//! `ferry-sandbox-init` binary too (used by its tests and benchmark).

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, mount, mount_bind, mount_bind_recursive, mount_remount};

fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("mount option {text:?} contains a NUL byte"))
}

fn inside(root: &Path, target: &str) -> PathBuf {
    root.join(target.trim_start_matches('/'))
}

fn mount_fs(source: &str, target: &Path, fs: &str, options: &str) -> Result<(), String> {
    let options = c_string(options)?;
    mount(source, target, fs, MountFlags::empty(), options.as_c_str())
        .map_err(|e| format!("mounting {fs} at {}: {e}", target.display()))
}

/// Builds the sandbox root and execs the step; returns only on failure.
pub fn sandbox_init(args: &[String]) -> Result<std::convert::Infallible, String> {
    let [root, upper, rest @ ..] = args else {
        return Err("usage: <root> <upper> (rw|ro <src> <dst>)* -- <workdir> <command...>".into());
    };
    let root = Path::new(root);
    let upper = Path::new(upper);
    mount_fs("ferry-sandbox", upper, "tmpfs", "mode=0755")?;
    for dir in ["u", "w"] {
        std::fs::create_dir(upper.join(dir)).map_err(|e| format!("{}: {e}", upper.join(dir).display()))?;
    }
    let overlay = format!(
        "lowerdir=/,upperdir={},workdir={}",
        upper.join("u").display(),
        upper.join("w").display()
    );
    mount_fs("overlay", root, "overlay", &overlay)?;
    mount_bind_recursive("/dev", root.join("dev")).map_err(|e| format!("binding /dev: {e}"))?;
    mount_fs("proc", &root.join("proc"), "proc", "")?;

    let mut rest = rest;
    loop {
        match rest {
            [separator, tail @ ..] if separator == "--" => {
                rest = tail;
                break;
            }
            [mode, source, target, tail @ ..] => {
                let destination = inside(root, target);
                if Path::new(source).is_dir() {
                    std::fs::create_dir_all(&destination)
                        .map_err(|e| format!("{}: {e}", destination.display()))?;
                } else {
                    if let Some(parent) = destination.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                    }
                    if !destination.exists() {
                        std::fs::File::create(&destination)
                            .map_err(|e| format!("{}: {e}", destination.display()))?;
                    }
                }
                mount_bind(source.as_str(), &destination)
                    .map_err(|e| format!("binding {source} at {target}: {e}"))?;
                if mode == "ro" {
                    mount_remount(&destination, MountFlags::BIND | MountFlags::RDONLY, "")
                        .map_err(|e| format!("making {target} read-only: {e}"))?;
                }
                rest = tail;
            }
            _ => return Err("malformed mount list".into()),
        }
    }
    let [working_dir, program, command_args @ ..] = rest else {
        return Err("missing working directory or command".into());
    };
    rustix::process::chroot(root).map_err(|e| format!("chroot: {e}"))?;
    let _ = std::fs::create_dir_all(working_dir);
    rustix::process::chdir(working_dir.as_str())
        .map_err(|e| format!("cannot enter working directory {working_dir}: {e}"))?;
    let error = std::process::Command::new(program).args(command_args).exec();
    Err(format!("{program}: {error}"))
}
