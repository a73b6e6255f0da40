//! Helm chart rendering: Go text/template, Sprig and Helm semantics, in-process.
//!
//! Entry points:
//! - [`Chart::load`] a chart directory or `.tgz`;
//! - [`UserValues::merge`] the `-f`/`--set*` inputs into one values tree;
//! - [`render_chart`] to get the documents `helm template` would print
//!   ([`Rendered::to_helm_output`] for the exact text);
//! - [`argo::render_application_source`] for an Argo CD `spec.source.helm`.

pub mod argo;
mod certs;
pub mod chart;
pub mod engine;
pub mod files;
pub mod funcs;
pub mod gofmt;
pub mod json;
mod masterpass;
pub mod render;
pub mod schema;
pub mod semver;
pub mod state;
pub mod values;
pub mod yaml;

pub use chart::{Chart, ChartError};
pub use render::{Manifest, RenderError, RenderOptions, Rendered};

use serde_json::{Map, Value as Json};

/// Renders run on their own thread with a roomy stack (deep `include`
/// chains also grow the stack on the heap as needed).
const RENDER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Render a chart with merged user values, as `helm template` would.
pub fn render_chart(
    chart: &Chart,
    user_values: Map<String, Json>,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("ferry-helm-render".to_string())
            .stack_size(RENDER_STACK_BYTES)
            .spawn_scoped(scope, || render::render(chart, user_values, options));
        match handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err(RenderError::Template("render thread panicked".to_string()))),
            Err(e) => Err(RenderError::Template(format!("cannot start render thread: {e}"))),
        }
    })
}

/// A user-supplied values error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ValuesError {
    #[error("failed to parse {file}: {message}")]
    File { file: String, message: String },
    #[error(transparent)]
    Set(#[from] values::SetError),
}

/// The user-supplied values of one render, in Helm's precedence order:
/// values files (in order), then `--set-json`, `--set`, `--set-string`,
/// `--set-file`, `--set-literal`.
#[derive(Debug, Clone, Default)]
pub struct UserValues {
    /// (name for errors, YAML text)
    pub files: Vec<(String, String)>,
    pub set_json: Vec<String>,
    pub set: Vec<String>,
    pub set_string: Vec<String>,
    /// `key=path`; paths are read with the reader given to [`UserValues::merge`].
    pub set_file: Vec<String>,
    pub set_literal: Vec<String>,
}

impl UserValues {
    /// Merge everything into one values tree.
    pub fn merge(
        &self,
        read_file: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Map<String, Json>, ValuesError> {
        let mut base = Map::new();
        for (name, text) in &self.files {
            let parsed = values::parse_values_yaml(text).map_err(|e| ValuesError::File {
                file: name.clone(),
                message: e.to_string(),
            })?;
            match parsed {
                Json::Object(m) => values::merge_maps(&mut base, m),
                _ => {
                    return Err(ValuesError::File {
                        file: name.clone(),
                        message: "values must be a YAML mapping".to_string(),
                    });
                }
            }
        }
        for v in &self.set_json {
            values::parse_set(v, values::SetKind::Json, &mut base)?;
        }
        for v in &self.set {
            values::parse_set(v, values::SetKind::Typed, &mut base)?;
        }
        for v in &self.set_string {
            values::parse_set(v, values::SetKind::String, &mut base)?;
        }
        for v in &self.set_file {
            values::parse_set_file(v, read_file, &mut base)?;
        }
        for v in &self.set_literal {
            values::parse_set(v, values::SetKind::Literal, &mut base)?;
        }
        Ok(base)
    }
}

/// `--show-only`: keep the documents whose `# Source:` path (without the
/// chart name) matches one of the patterns, as `helm template` prints them.
pub fn show_only(output: &str, patterns: &[String]) -> Result<String, String> {
    let docs = render::split_manifests(output);
    let mut out = String::new();
    for pattern in patterns {
        let matcher = glob_path_regex(pattern)?;
        let mut found = false;
        for doc in &docs {
            let Some(source) = doc
                .lines()
                .find_map(|l| l.strip_prefix("# Source: "))
                .and_then(|s| s.split_once('/').map(|(_, rest)| rest.to_string()))
            else {
                continue;
            };
            if matcher.is_match(&source) {
                out.push_str("---\n");
                out.push_str(doc);
                out.push('\n');
                found = true;
            }
        }
        if !found {
            return Err(format!("could not find template {pattern} in chart"));
        }
    }
    Ok(out)
}

/// Go's `filepath.Match` semantics for `--show-only` patterns.
fn glob_path_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| e.to_string())
}

/// Everything `helm template` takes, as data.
#[derive(Debug, Clone, Default)]
pub struct TemplateRequest {
    /// Chart directory or `.tgz`.
    pub chart: std::path::PathBuf,
    pub values: UserValues,
    pub options: RenderOptions,
    pub show_only: Vec<String>,
}

/// Any failure of [`template`].
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    ShowOnly(String),
}

/// `helm template`: load, merge values, render, print (files named in
/// `--set-file` are read from disk).
pub fn template(request: &TemplateRequest) -> Result<String, TemplateError> {
    let chart = Chart::load(&request.chart)?;
    let values = request.values.merge(&read_file_like_go)?;
    let rendered = render_chart(&chart, values, &request.options)?;
    let output = rendered.to_helm_output();
    if request.show_only.is_empty() {
        Ok(output)
    } else {
        show_only(&output, &request.show_only).map_err(TemplateError::ShowOnly)
    }
}

/// Read a file, reporting failures with Go's wording (`open x: no such file
/// or directory`), as Helm's messages do.
pub fn read_file_like_go(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
            _ => e.to_string(),
        };
        format!("open {path}: {reason}")
    })
}
