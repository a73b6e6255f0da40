//! Loading charts: directories and `.tgz` archives, `Chart.yaml` (v1/v2),
//! `requirements.yaml`, `.helmignore`, `charts/` subcharts.

use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::files::FileMap;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("Chart.yaml file is missing in {0}")]
    MissingChartYaml(String),
    #[error("cannot load {file}: {message}")]
    Malformed { file: String, message: String },
    #[error("validation: chart.metadata.{field} is required in {chart}")]
    MissingField { chart: String, field: &'static str },
    #[error("error unpacking subchart {name} in {parent}: {source}")]
    Subchart {
        name: String,
        parent: String,
        source: Box<ChartError>,
    },
}

/// A dependency entry of `Chart.yaml` (v2) or `requirements.yaml` (v1).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub condition: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, rename = "import-values")]
    pub import_values: Vec<Json>,
    #[serde(default)]
    pub alias: String,
}

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml` as parsed (Helm typing), for `.Chart`.
    pub metadata: Json,
    pub name: String,
    pub api_version: String,
    pub chart_type: String,
    pub kube_version: String,
    pub dependencies_meta: Vec<Dependency>,
    /// `templates/…` path → source.
    pub templates: BTreeMap<String, String>,
    /// `values.yaml` (an object; empty if absent).
    pub values: Map<String, Json>,
    pub schema: Option<String>,
    /// Every other file (including `crds/`), for `.Files`.
    pub files: Arc<FileMap>,
    pub subcharts: Vec<Chart>,
}

impl Chart {
    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }

    /// Load a chart from a directory or a `.tgz` archive.
    pub fn load(path: &Path) -> Result<Chart, ChartError> {
        let meta = std::fs::metadata(path).map_err(|source| ChartError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            Chart::load_dir(path)
        } else {
            let bytes = std::fs::read(path).map_err(|source| ChartError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Chart::load_archive(&bytes, &path.display().to_string())
        }
    }

    /// Load an unpacked chart directory, honouring `.helmignore`.
    pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
        let ignore = match std::fs::read_to_string(dir.join(".helmignore")) {
            Ok(text) => IgnoreRules::parse(&text),
            Err(_) => IgnoreRules::parse(""),
        };
        let mut files = BTreeMap::new();
        walk(dir, "", &ignore, &mut files)?;
        Chart::from_files(files, &dir.display().to_string())
    }

    /// Load a gzipped tar archive (`chart/…` entries).
    pub fn load_archive(bytes: &[u8], origin: &str) -> Result<Chart, ChartError> {
        let decoder = flate2::read::GzDecoder::new(bytes);
        let mut archive = tar::Archive::new(decoder);
        let mut files = BTreeMap::new();
        let malformed = |message: String| ChartError::Malformed {
            file: origin.to_string(),
            message,
        };
        let entries = archive.entries().map_err(|e| malformed(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| malformed(e.to_string()))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| malformed(e.to_string()))?
                .to_string_lossy()
                .replace('\\', "/");
            // Strip the top directory (the chart name).
            let Some((_, rel)) = path.split_once('/') else {
                continue;
            };
            let rel = rel.trim_start_matches("./").to_string();
            if rel.split('/').any(|seg| seg == "..") {
                return Err(malformed(format!(
                    "chart illegally references parent directory: {path}"
                )));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| malformed(e.to_string()))?;
            files.insert(rel, data);
        }
        let ignore = files
            .get(".helmignore")
            .map(|b| IgnoreRules::parse(&String::from_utf8_lossy(b)))
            .unwrap_or_else(|| IgnoreRules::parse(""));
        files.retain(|path, _| !ignore.ignores_path(path));
        Chart::from_files(files, origin)
    }

    /// Build a chart from its files (paths relative to the chart root).
    pub fn from_files(files: BTreeMap<String, Vec<u8>>, origin: &str) -> Result<Chart, ChartError> {
        let text = |name: &str, bytes: &[u8]| -> Result<String, ChartError> {
            String::from_utf8(bytes.to_vec()).map_err(|_| ChartError::Malformed {
                file: format!("{origin}/{name}"),
                message: "not valid UTF-8".to_string(),
            })
        };
        let chart_yaml = files
            .get("Chart.yaml")
            .ok_or_else(|| ChartError::MissingChartYaml(origin.to_string()))?;
        let metadata_value =
            crate::yaml::parse_yaml(&text("Chart.yaml", chart_yaml)?).map_err(|e| ChartError::Malformed {
                file: format!("{origin}/Chart.yaml"),
                message: e.to_string(),
            })?;
        let metadata = crate::values::from_template_value(&metadata_value);
        let field = |k: &str| -> String {
            match metadata.get(k) {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Number(n)) => crate::gofmt::format_float_g(n.as_f64().unwrap_or(0.0)),
                Some(Json::Bool(b)) => b.to_string(),
                _ => String::new(),
            }
        };
        let name = field("name");
        if name.is_empty() {
            return Err(ChartError::MissingField {
                chart: origin.to_string(),
                field: "name",
            });
        }
        let api_version = field("apiVersion");
        if api_version.is_empty() {
            return Err(ChartError::MissingField {
                chart: origin.to_string(),
                field: "apiVersion",
            });
        }
        if field("version").is_empty() {
            return Err(ChartError::MissingField {
                chart: origin.to_string(),
                field: "version",
            });
        }
        let mut dependencies_meta = parse_dependencies(metadata.get("dependencies"), origin, "Chart.yaml")?;
        if api_version == "v1"
            && let Some(req) = files.get("requirements.yaml")
        {
            let req_value = crate::yaml::parse_yaml(&text("requirements.yaml", req)?).map_err(|e| {
                ChartError::Malformed {
                    file: format!("{origin}/requirements.yaml"),
                    message: e.to_string(),
                }
            })?;
            let req_json = crate::values::from_template_value(&req_value);
            dependencies_meta =
                parse_dependencies(req_json.get("dependencies"), origin, "requirements.yaml")?;
        }

        let mut templates = BTreeMap::new();
        let mut values = Map::new();
        let mut schema = None;
        let mut other = FileMap::new();
        let mut subchart_files: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let mut subchart_archives: Vec<(String, Vec<u8>)> = Vec::new();
        for (path, data) in files {
            match path.as_str() {
                "Chart.yaml" | "Chart.lock" | "requirements.yaml" | "requirements.lock" => continue,
                "values.yaml" => {
                    let parsed =
                        crate::values::parse_values_yaml(&text("values.yaml", &data)?).map_err(|e| {
                            ChartError::Malformed {
                                file: format!("{origin}/values.yaml"),
                                message: e.to_string(),
                            }
                        })?;
                    if let Json::Object(m) = parsed {
                        values = m;
                    }
                    continue;
                }
                "values.schema.json" => {
                    schema = Some(text("values.schema.json", &data)?);
                    continue;
                }
                _ => {}
            }
            if path.starts_with("templates/") {
                templates.insert(path.clone(), text(&path, &data)?);
            } else if let Some(rest) = path.strip_prefix("charts/") {
                if path.ends_with(".prov") {
                    other.insert(path, data);
                } else if let Some((dir, inner)) = rest.split_once('/') {
                    subchart_files
                        .entry(dir.to_string())
                        .or_default()
                        .insert(inner.to_string(), data);
                } else if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") {
                    subchart_archives.push((rest.to_string(), data));
                }
            } else {
                other.insert(path, data);
            }
        }
        let mut subcharts = Vec::new();
        for (dir, sub_files) in subchart_files {
            let sub = Chart::from_files(sub_files, &format!("{origin}/charts/{dir}")).map_err(|source| {
                ChartError::Subchart {
                    name: dir.clone(),
                    parent: name.clone(),
                    source: Box::new(source),
                }
            })?;
            subcharts.push(sub);
        }
        for (file, data) in subchart_archives {
            let sub = Chart::load_archive(&data, &format!("{origin}/charts/{file}")).map_err(|source| {
                ChartError::Subchart {
                    name: file.clone(),
                    parent: name.clone(),
                    source: Box::new(source),
                }
            })?;
            subcharts.push(sub);
        }
        Ok(Chart {
            chart_type: field("type"),
            kube_version: field("kubeVersion"),
            metadata,
            name,
            api_version,
            dependencies_meta,
            templates,
            values,
            schema,
            files: Arc::new(other),
            subcharts,
        })
    }
}

fn parse_dependencies(value: Option<&Json>, origin: &str, file: &str) -> Result<Vec<Dependency>, ChartError> {
    match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value::<Vec<Dependency>>(v.clone()).map_err(|e| ChartError::Malformed {
            file: format!("{origin}/{file}"),
            message: format!("dependencies: {e}"),
        }),
    }
}

fn walk(
    root: &Path,
    rel: &str,
    ignore: &IgnoreRules,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ChartError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let read = std::fs::read_dir(&dir).map_err(|source| ChartError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|source| ChartError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if ignore.ignores(&child, meta.is_dir()) {
            continue;
        }
        if meta.is_dir() {
            walk(root, &child, ignore, out)?;
        } else {
            let data = std::fs::read(&path).map_err(|source| ChartError::Io {
                path: path.display().to_string(),
                source,
            })?;
            out.insert(child, data);
        }
    }
    Ok(())
}

/// `.helmignore` rules (Helm's subset of `.gitignore`).
pub struct IgnoreRules {
    rules: Vec<IgnoreRule>,
}

struct IgnoreRule {
    negate: bool,
    dir_only: bool,
    /// Match against the full path (rule had a `/`) or the base name.
    full_path: bool,
    pattern: Vec<char>,
}

impl IgnoreRules {
    pub fn parse(text: &str) -> IgnoreRules {
        let mut rules = Vec::new();
        // Helm always ignores hidden files in templates/.
        for line in std::iter::once("templates/.?*").chain(text.lines()) {
            let mut rule = line.trim();
            if rule.is_empty() || rule.starts_with('#') || rule.contains("**") {
                continue;
            }
            let negate = rule.starts_with('!');
            if negate {
                rule = &rule[1..];
            }
            let dir_only = rule.ends_with('/');
            let rule = rule.trim_end_matches('/');
            let rule = rule.strip_prefix('/').unwrap_or(rule);
            let full_path = rule.contains('/');
            rules.push(IgnoreRule {
                negate,
                dir_only,
                full_path,
                pattern: rule.chars().collect(),
            });
        }
        IgnoreRules { rules }
    }

    /// First matching rule decides: a negation keeps the path.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let subject = if rule.full_path { path } else { base };
            let name: Vec<char> = subject.chars().collect();
            if go_path_match(&rule.pattern, &name) {
                return !rule.negate;
            }
        }
        false
    }

    /// For archive entries: ignored if the file or any parent directory is.
    pub fn ignores_path(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            if self.ignores(&parts[..i].join("/"), true) {
                return true;
            }
        }
        self.ignores(path, false)
    }
}

/// Go's `filepath.Match`: `*` and `?` never match `/`, `[...]`/`[^...]`
/// classes with ranges, `\\` escapes. A malformed pattern matches nothing.
pub fn go_path_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => {
            let rest = &pattern[1..];
            // Try every split that keeps `*` within one path segment.
            for i in 0..=name.len() {
                if i > 0 && name[i - 1] == '/' {
                    break;
                }
                if go_path_match(rest, &name[i..]) {
                    return true;
                }
            }
            false
        }
        Some('?') => match name.first() {
            Some(c) if *c != '/' => go_path_match(&pattern[1..], &name[1..]),
            _ => false,
        },
        Some('[') => {
            let Some(&c) = name.first() else {
                return false;
            };
            let mut i = 1;
            let negated = matches!(pattern.get(i), Some('^') | Some('!'));
            if negated {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            loop {
                let Some(&p) = pattern.get(i) else {
                    return false;
                };
                if p == ']' && !first {
                    i += 1;
                    break;
                }
                first = false;
                let (lo, next) = if p == '\\' {
                    match pattern.get(i + 1) {
                        Some(&e) => (e, i + 2),
                        None => return false,
                    }
                } else {
                    (p, i + 1)
                };
                if pattern.get(next) == Some(&'-') && pattern.get(next + 1).is_some_and(|h| *h != ']') {
                    let hi = pattern.get(next + 1).copied().unwrap_or(lo);
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                    i = next + 2;
                } else {
                    if lo == c {
                        matched = true;
                    }
                    i = next;
                }
            }
            matched != negated && c != '/' && go_path_match(&pattern[i..], &name[1..])
        }
        Some('\\') => match (pattern.get(1), name.first()) {
            (Some(p), Some(c)) if p == c => go_path_match(&pattern[2..], &name[1..]),
            _ => false,
        },
        Some(p) => match name.first() {
            Some(c) if c == p => go_path_match(&pattern[1..], &name[1..]),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_rules() {
        let rules = IgnoreRules::parse("# comment\n*.tmp\n.git/\n/secret.txt\n!keep.tmp\ndocs/*.md\n");
        let table: &[(&str, bool, bool)] = &[
            ("a.tmp", false, true),
            ("sub/b.tmp", false, true),
            (".git", true, true),
            (".git", false, false),
            ("secret.txt", false, true),
            ("docs/x.md", false, true),
            ("docs/sub/x.md", false, false),
            ("templates/.hidden", false, true),
            ("templates/ok.yaml", false, false),
        ];
        for (path, is_dir, want) in table {
            assert_eq!(rules.ignores(path, *is_dir), *want, "{path}");
        }
        // The first matching rule wins: `*.tmp` comes before `!keep.tmp`.
        assert!(rules.ignores("keep.tmp", false));
    }

    #[test]
    fn go_path_match_follows_filepath_match() {
        let table: &[(&str, &str, bool)] = &[
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "dir/a.yaml", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[", "[", false),
        ];
        for (pattern, name, want) in table {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            assert_eq!(go_path_match(&p, &n), *want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn chart_from_files_partitions_and_validates() {
        let mut files = BTreeMap::new();
        files.insert(
            "Chart.yaml".to_string(),
            b"apiVersion: v2\nname: demo\nversion: 1.0.0\n".to_vec(),
        );
        files.insert("values.yaml".to_string(), b"a: 1\n".to_vec());
        files.insert("templates/cm.yaml".to_string(), b"kind: ConfigMap".to_vec());
        files.insert("files/x.txt".to_string(), b"x".to_vec());
        files.insert(
            "charts/sub/Chart.yaml".to_string(),
            b"apiVersion: v2\nname: sub\nversion: 0.1.0\n".to_vec(),
        );
        let chart = Chart::from_files(files, "demo").expect("loads");
        assert_eq!(chart.name, "demo");
        assert_eq!(chart.templates.len(), 1);
        assert!(chart.files.contains_key("files/x.txt"));
        assert_eq!(chart.subcharts.len(), 1);
        assert_eq!(chart.values.get("a"), Some(&serde_json::json!(1.0)));

        let mut bad = BTreeMap::new();
        bad.insert(
            "Chart.yaml".to_string(),
            b"apiVersion: v2\nversion: 1.0.0\n".to_vec(),
        );
        let e = Chart::from_files(bad, "bad").expect_err("name is required");
        assert!(e.to_string().contains("name is required"), "{e}");
    }
}
