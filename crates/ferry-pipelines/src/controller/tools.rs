//! The tools a step finds first on `PATH` (`/ferry/bin` in the sandbox).
//!
//! By default: `argocd`, `tkn` and `ferry` are Ferry's own binary (it dispatches on the
//! name it is invoked as), `kubectl` is the host's. Each is bind-mounted as a single file,
//! so a binary on another filesystem than the host root still shows up in the sandbox.
//!
//! `FERRY_TOOLS_DIR` (read by [`super::ControllerConfig::from_env`]) names a directory
//! whose executables replace the defaults of the same name and add new ones. Tests use it
//! to put a recording `argocd` stub in front; operators can use it to pin a real `argocd`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the tools override directory.
pub const TOOLS_DIR_ENV: &str = "FERRY_TOOLS_DIR";

/// Ferry's own tools, all the same binary, plus the host's `kubectl` when found.
pub fn default_tools(ferry_binary: Option<&Path>, kubectl: Option<&Path>) -> BTreeMap<String, PathBuf> {
    let mut tools = BTreeMap::new();
    if let Some(binary) = ferry_binary {
        for name in ["argocd", "tkn", "ferry"] {
            tools.insert(name.to_string(), binary.to_path_buf());
        }
    }
    if let Some(kubectl) = kubectl {
        tools.insert("kubectl".to_string(), kubectl.to_path_buf());
    }
    tools
}

/// `defaults` with `overrides` (name → file) taking precedence.
pub fn with_overrides(
    mut defaults: BTreeMap<String, PathBuf>,
    overrides: impl IntoIterator<Item = (String, PathBuf)>,
) -> BTreeMap<String, PathBuf> {
    for (name, path) in overrides {
        if !name.is_empty() && !name.contains('/') {
            defaults.insert(name, path);
        }
    }
    defaults
}

/// Regular files in `dir` (symlinks resolved), by file name. Unreadable entries are skipped.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Ok(resolved) = std::fs::canonicalize(&path) else {
            continue;
        };
        if resolved.is_file() {
            files.push((entry.file_name().to_string_lossy().into_owned(), resolved));
        }
    }
    Ok(files)
}

/// The first executable named `name` on this process's `PATH`, with symlinks resolved (a
/// bind mount of the link itself would point nowhere inside the sandbox).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::fs::canonicalize(found).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_and_add_tools() {
        let defaults = default_tools(Some(Path::new("/bin/ferry")), Some(Path::new("/usr/bin/kubectl")));
        assert_eq!(defaults.len(), 4);
        assert_eq!(defaults["argocd"], PathBuf::from("/bin/ferry"));
        let merged = with_overrides(
            defaults,
            [
                ("argocd".to_string(), PathBuf::from("/stubs/argocd")),
                ("jq".to_string(), PathBuf::from("/stubs/jq")),
                ("bad/name".to_string(), PathBuf::from("/stubs/x")),
            ],
        );
        assert_eq!(merged["argocd"], PathBuf::from("/stubs/argocd"));
        assert_eq!(merged["jq"], PathBuf::from("/stubs/jq"));
        assert_eq!(merged["tkn"], PathBuf::from("/bin/ferry"));
        assert_eq!(merged["kubectl"], PathBuf::from("/usr/bin/kubectl"));
        assert!(!merged.contains_key("bad/name"));
    }

    #[test]
    fn no_binary_no_kubectl_means_no_tools() {
        assert!(default_tools(None, None).is_empty());
    }
}
