//! Argo CD's `spec.source.helm`, rendered natively.
//!
//! Argo CD shells out to `helm template <release> . --namespace … \
//! --kube-version … --api-versions … [--include-crds] [--skip-tests] \
//! --values <valueFiles…> --values <values/valuesObject> --set/--set-string \
//! <parameters> --set-file <fileParameters>`; this does the same in-process.

use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

use crate::{Chart, RenderOptions, Rendered, UserValues};

pub use ferry_types::argocd::{ApplicationSourceHelm, HelmFileParameter, HelmParameter};

/// What the app controller knows besides the Application's `helm` block.
#[derive(Debug, Clone, Default)]
pub struct ArgoRenderContext {
    /// The Application's name (the default release name).
    pub app_name: String,
    /// `spec.destination.namespace`.
    pub destination_namespace: String,
    /// The destination cluster's version, e.g. `1.33.0`.
    pub cluster_kube_version: Option<String>,
    /// The destination cluster's API versions (group/version and
    /// group/version/Kind); empty means Helm's defaults.
    pub cluster_api_versions: Vec<String>,
    /// Files must stay inside this directory (the repository checkout).
    pub repo_root: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArgoHelmError {
    #[error("{field}: {path} is outside the repository")]
    OutsideRepository { field: &'static str, path: String },
    #[error("{field}: {message}")]
    File { field: &'static str, message: String },
    #[error("spec.source.helm.valuesObject: {0}")]
    ValuesObject(String),
    #[error("spec.source.helm.parameters[{index}]: name is empty")]
    EmptyParameterName { index: usize },
    #[error(transparent)]
    Chart(#[from] crate::ChartError),
    #[error(transparent)]
    Values(#[from] crate::ValuesError),
    #[error(transparent)]
    Render(#[from] crate::RenderError),
}

/// Argo CD escapes commas in parameter values unless the value is a list.
fn escape_parameter_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut previous = '\0';
    for c in value.chars() {
        if c == ',' && previous != '\\' {
            out.push('\\');
        }
        out.push(c);
        previous = c;
    }
    out
}

fn resolve_inside(
    chart_dir: &Path,
    relative: &str,
    repo_root: Option<&Path>,
    field: &'static str,
) -> Result<PathBuf, ArgoHelmError> {
    let joined = chart_dir.join(relative);
    if let Some(root) = repo_root {
        let normalized = normalize(&joined);
        if !normalized.starts_with(normalize(root)) {
            return Err(ArgoHelmError::OutsideRepository {
                field,
                path: relative.to_string(),
            });
        }
    }
    Ok(joined)
}

/// Lexical normalization (no filesystem access): drop `.`, fold `..`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The user values Argo CD would pass to `helm template`, in its order.
pub fn user_values(
    chart_dir: &Path,
    helm: &ApplicationSourceHelm,
    repo_root: Option<&Path>,
) -> Result<Map<String, Json>, ArgoHelmError> {
    let mut user = UserValues::default();
    for file in &helm.value_files {
        let path = resolve_inside(chart_dir, file, repo_root, "spec.source.helm.valueFiles")?;
        match std::fs::read_to_string(&path) {
            Ok(text) => user.files.push((file.clone(), text)),
            Err(_) if helm.ignore_missing_value_files => {}
            Err(e) => {
                return Err(ArgoHelmError::File {
                    field: "spec.source.helm.valueFiles",
                    message: format!("{file}: {e}"),
                });
            }
        }
    }
    if let Some(object) = &helm.values_object {
        // Argo CD writes the object to a values file; reading it back as
        // YAML gives Helm's typing (float64 numbers).
        let text = serde_json::to_string(object).map_err(|e| ArgoHelmError::ValuesObject(e.to_string()))?;
        user.files
            .push(("spec.source.helm.valuesObject".to_string(), text));
    } else if !helm.values.trim().is_empty() {
        user.files
            .push(("spec.source.helm.values".to_string(), helm.values.clone()));
    }
    for (index, p) in helm.parameters.iter().enumerate() {
        if p.name.is_empty() {
            return Err(ArgoHelmError::EmptyParameterName { index });
        }
        let flag = format!("{}={}", p.name, escape_parameter_value(&p.value));
        if p.force_string {
            user.set_string.push(flag);
        } else {
            user.set.push(flag);
        }
    }
    let mut file_contents: Vec<(String, String)> = Vec::new();
    for p in &helm.file_parameters {
        let path = resolve_inside(chart_dir, &p.path, repo_root, "spec.source.helm.fileParameters")?;
        let content = std::fs::read_to_string(&path).map_err(|e| ArgoHelmError::File {
            field: "spec.source.helm.fileParameters",
            message: format!("{}: {e}", p.path),
        })?;
        file_contents.push((p.path.clone(), content));
        user.set_file.push(format!("{}={}", p.name, p.path));
    }
    // `--set-file name=path`: the path was read (and checked) above.
    let read = |value: &str| -> Result<String, String> {
        file_contents
            .iter()
            .find(|(path, _)| path == value)
            .map(|(_, content)| content.clone())
            .ok_or_else(|| format!("open {value}: no such file or directory"))
    };
    Ok(user.merge(&read)?)
}

/// Render an Application's Helm source from a checked-out chart directory.
pub fn render_application_source(
    chart_dir: &Path,
    helm: &ApplicationSourceHelm,
    context: &ArgoRenderContext,
) -> Result<Rendered, ArgoHelmError> {
    let chart = Chart::load(chart_dir)?;
    let values = user_values(chart_dir, helm, context.repo_root.as_deref())?;
    let options = render_options(helm, context);
    Ok(crate::render_chart(&chart, values, &options)?)
}

/// The `helm template` flags Argo CD would use.
pub fn render_options(helm: &ApplicationSourceHelm, context: &ArgoRenderContext) -> RenderOptions {
    let namespace = if helm.namespace.is_empty() {
        context.destination_namespace.clone()
    } else {
        helm.namespace.clone()
    };
    RenderOptions {
        release_name: if helm.release_name.is_empty() {
            context.app_name.clone()
        } else {
            helm.release_name.clone()
        },
        namespace: if namespace.is_empty() {
            "default".to_string()
        } else {
            namespace
        },
        kube_version: if helm.kube_version.is_empty() {
            context.cluster_kube_version.clone()
        } else {
            Some(helm.kube_version.clone())
        },
        api_versions: if helm.api_versions.is_empty() {
            context.cluster_api_versions.clone()
        } else {
            helm.api_versions.clone()
        },
        include_crds: !helm.skip_crds,
        skip_tests: helm.skip_tests,
        skip_schema_validation: helm.skip_schema_validation,
        no_hooks: false,
        is_upgrade: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_chart() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/charts/seed-helloworld")
    }

    #[test]
    fn seed_application_parameters_render_the_cloneset() {
        let helm: ApplicationSourceHelm = serde_json::from_value(serde_json::json!({
            "parameters": [
                {"name": "image.repository", "value": "registry.example.com/demo/helloworld"},
                {"name": "image.tag", "value": "main-d92ae17"},
                {"name": "installation.namespace", "value": "helloworld"}
            ]
        }))
        .expect("spec parses");
        let context = ArgoRenderContext {
            app_name: "helloworld".to_string(),
            destination_namespace: "helloworld".to_string(),
            ..ArgoRenderContext::default()
        };
        let rendered = render_application_source(&seed_chart(), &helm, &context).expect("renders");
        let kinds: Vec<&str> = rendered.manifests.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, vec!["Namespace", "Service", "CloneSet"]);
        let cloneset = &rendered.manifests[2].content;
        assert!(
            cloneset.contains("image: \"registry.example.com/demo/helloworld:main-d92ae17\""),
            "{cloneset}"
        );
    }

    #[test]
    fn precedence_follows_argo_cd() {
        let dir = std::env::temp_dir().join(format!("ferry-argo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("a.yaml"),
            "x: from-file\ny: from-file\nz: from-file\nn: 1\n",
        )
        .expect("write");
        std::fs::write(dir.join("motd.txt"), "hello, world").expect("write");
        let helm = ApplicationSourceHelm {
            value_files: vec!["a.yaml".to_string()],
            values: "y: from-values\n".to_string(),
            values_object: Some(serde_json::json!({"y": "from-object", "obj": 2})),
            parameters: vec![
                HelmParameter {
                    name: "z".to_string(),
                    value: "a,b".to_string(),
                    force_string: false,
                },
                HelmParameter {
                    name: "n".to_string(),
                    value: "5".to_string(),
                    force_string: true,
                },
            ],
            file_parameters: vec![HelmFileParameter {
                name: "motd".to_string(),
                path: "motd.txt".to_string(),
            }],
            ..ApplicationSourceHelm::default()
        };
        let values = user_values(&dir, &helm, Some(&dir)).expect("values");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(values.get("x"), Some(&serde_json::json!("from-file")));
        assert_eq!(
            values.get("y"),
            Some(&serde_json::json!("from-object")),
            "valuesObject wins over values"
        );
        assert_eq!(
            values.get("z"),
            Some(&serde_json::json!("a,b")),
            "commas are escaped"
        );
        assert_eq!(values.get("n"), Some(&serde_json::json!("5")), "forceString");
        assert_eq!(
            values.get("obj"),
            Some(&serde_json::json!(2.0)),
            "object numbers are float64"
        );
        assert_eq!(values.get("motd"), Some(&serde_json::json!("hello, world")));
    }

    #[test]
    fn files_outside_the_repository_are_refused() {
        let helm = ApplicationSourceHelm {
            value_files: vec!["../../etc/passwd".to_string()],
            ..ApplicationSourceHelm::default()
        };
        let e = user_values(&seed_chart(), &helm, Some(&seed_chart())).expect_err("refused");
        assert!(matches!(e, ArgoHelmError::OutsideRepository { .. }), "{e}");
    }

    #[test]
    fn options_prefer_the_spec_over_the_cluster() {
        let helm = ApplicationSourceHelm {
            namespace: "override".to_string(),
            kube_version: "1.29.0".to_string(),
            skip_crds: true,
            ..ApplicationSourceHelm::default()
        };
        let context = ArgoRenderContext {
            app_name: "app".to_string(),
            destination_namespace: "dest".to_string(),
            cluster_kube_version: Some("1.33.0".to_string()),
            cluster_api_versions: vec!["apps/v1".to_string()],
            repo_root: None,
        };
        let options = render_options(&helm, &context);
        assert_eq!(options.release_name, "app");
        assert_eq!(options.namespace, "override");
        assert_eq!(options.kube_version.as_deref(), Some("1.29.0"));
        assert_eq!(options.api_versions, vec!["apps/v1".to_string()]);
        assert!(!options.include_crds);
    }
}
