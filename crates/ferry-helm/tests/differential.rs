//! Differential tests: every corpus chart rendered by real Helm 4.1.4 (the
//! oracle installed by `scripts/install-helm-oracle.sh`) and by ferry-helm
//! must give identical output, as text and as parsed documents.
//!
//! The oracle is found at `$FERRY_HELM_ORACLE` or
//! `scripts/.cache/helm-4.1.4/helm`. A missing oracle fails the tests unless
//! `FERRY_SKIP_ORACLE=1` is set explicitly.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_helm::{RenderOptions, TemplateRequest, UserValues};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/charts")
}

/// The oracle binary, or None when skipping is explicitly allowed.
fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("FERRY_HELM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("scripts/.cache/helm-4.1.4/helm"));
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("FERRY_SKIP_ORACLE").as_deref() == Ok("1") {
        eprintln!(
            "FERRY_SKIP_ORACLE=1: skipping differential test (no oracle at {})",
            path.display()
        );
        return None;
    }
    panic!(
        "helm oracle not found at {}: run scripts/install-helm-oracle.sh (or set FERRY_HELM_ORACLE; \
         FERRY_SKIP_ORACLE=1 skips explicitly)",
        path.display()
    );
}

/// Turn `helm template` arguments into a request (the subset the corpus uses).
fn request_from_args(chart: &Path, args: &[&str]) -> TemplateRequest {
    let mut request = TemplateRequest {
        chart: chart.to_path_buf(),
        values: UserValues::default(),
        options: RenderOptions::default(),
        show_only: Vec::new(),
    };
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i];
        let next = || args.get(i + 1).map(|s| s.to_string()).unwrap_or_default();
        match flag {
            "--set" => request.values.set.push(next()),
            "--set-string" => request.values.set_string.push(next()),
            "--set-json" => request.values.set_json.push(next()),
            "--set-literal" => request.values.set_literal.push(next()),
            "--set-file" => request.values.set_file.push(next()),
            "-f" | "--values" => {
                let path = next();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
                request.values.files.push((path, text));
            }
            "-n" | "--namespace" => request.options.namespace = next(),
            "--kube-version" => request.options.kube_version = Some(next()),
            "--api-versions" => request.options.api_versions.push(next()),
            "-s" | "--show-only" => request.show_only.push(next()),
            "--include-crds" => {
                request.options.include_crds = true;
                i += 1;
                continue;
            }
            "--skip-tests" => {
                request.options.skip_tests = true;
                i += 1;
                continue;
            }
            "--no-hooks" => {
                request.options.no_hooks = true;
                i += 1;
                continue;
            }
            "--skip-schema-validation" => {
                request.options.skip_schema_validation = true;
                i += 1;
                continue;
            }
            other => {
                positional.push(other.to_string());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if let Some(name) = positional.first() {
        request.options.release_name = name.clone();
    }
    request
}

struct Outcome {
    ok: bool,
    text: String,
}

fn run_oracle(helm: &Path, chart: &Path, args: &[&str]) -> Outcome {
    let out = Command::new(helm)
        .arg("template")
        .args(args)
        .arg(chart)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ferry-helm-oracle-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ferry-helm-oracle-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("ferry-helm-oracle-data"),
        )
        .env_remove("HELM_NAMESPACE")
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("run helm: {e}"));
    if out.status.success() {
        Outcome {
            ok: true,
            text: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    } else {
        // The message: everything from "Error: " up to Helm's hint line.
        let err = String::from_utf8_lossy(&out.stderr);
        let message: Vec<&str> = err
            .lines()
            .skip_while(|l| !l.starts_with("Error: "))
            .take_while(|l| !l.starts_with("Use --debug flag"))
            .collect();
        let text = message.join("\n");
        Outcome {
            ok: false,
            text: text
                .strip_prefix("Error: ")
                .unwrap_or(&text)
                .trim_end()
                .to_string(),
        }
    }
}

fn run_ferry(chart: &Path, args: &[&str]) -> Outcome {
    match ferry_helm::template(&request_from_args(chart, args)) {
        Ok(text) => Outcome { ok: true, text },
        Err(e) => Outcome {
            ok: false,
            text: e.to_string().trim_end().to_string(),
        },
    }
}

fn parsed_documents(text: &str) -> Vec<serde_json::Value> {
    ferry_helm::render::split_manifests(text)
        .iter()
        .map(|doc| {
            let value = ferry_helm::yaml::parse_yaml(doc)
                .unwrap_or_else(|e| panic!("output YAML parses: {e}\n{doc}"));
            ferry_helm::json::to_serde(&value)
        })
        .collect()
}

/// Compare one case; returns a description of the difference, if any.
fn compare(helm: &Path, chart: &Path, args: &[&str]) -> Option<String> {
    let expected = run_oracle(helm, chart, args);
    let actual = run_ferry(chart, args);
    let label = format!("helm template {} {}", args.join(" "), chart.display());
    if expected.ok != actual.ok {
        return Some(format!(
            "{label}\n  helm ok={} ferry ok={}\n  helm: {}\n  ferry: {}",
            expected.ok,
            actual.ok,
            truncate(&expected.text),
            truncate(&actual.text)
        ));
    }
    if !expected.ok {
        // Both failed: the first lines of the messages must agree.
        // YAML syntax errors come from different YAML libraries: compare
        // only which file failed.
        // Helm lists schema violations in Go map order (random): compare
        // them as a set.
        let essential = |t: &str| -> String {
            if let Some(rest) = t.strip_prefix("YAML parse error on ") {
                return rest.split(':').next().unwrap_or_default().to_string();
            }
            if t.starts_with("values don't meet") {
                let mut lines: Vec<&str> = t.lines().collect();
                lines.sort_unstable();
                return lines.join("\n");
            }
            t.to_string()
        };
        if essential(&expected.text) != essential(&actual.text) {
            return Some(format!(
                "{label}\n  error messages differ:\n  helm:  {}\n  ferry: {}",
                expected.text, actual.text
            ));
        }
        return None;
    }
    if expected.text != actual.text {
        return Some(format!(
            "{label}\n{}",
            first_difference(&expected.text, &actual.text)
        ));
    }
    if parsed_documents(&expected.text) != parsed_documents(&actual.text) {
        return Some(format!("{label}\n  parsed documents differ"));
    }
    None
}

fn truncate(text: &str) -> String {
    text.chars().take(400).collect()
}

fn first_difference(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    for i in 0..e.len().max(a.len()) {
        if e.get(i) != a.get(i) {
            let from = i.saturating_sub(3);
            let ctx = |lines: &[&str]| {
                lines
                    .iter()
                    .skip(from)
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            };
            return format!(
                "  first difference at line {}:\n  helm:\n    {}\n  ferry:\n    {}",
                i + 1,
                ctx(&e),
                ctx(&a)
            );
        }
    }
    "  (texts differ only in trailing newlines)".to_string()
}

/// (chart directory under testdata/charts, helm template arguments)
const CASES: &[(&str, &[&str])] = &[
    // The seed: argocd app create … --helm-set image.repository=… image.tag=… installation.namespace=…
    (
        "seed-helloworld",
        &[
            "helloworld",
            "--set",
            "image.repository=registry.example.com/demo/helloworld",
            "--set",
            "image.tag=main-d92ae17",
            "--set",
            "installation.namespace=helloworld",
        ],
    ),
    ("seed-helloworld", &["helloworld"]),
    (
        "seed-helloworld",
        &[
            "rel",
            "--set",
            "resources.limits.cpu=500m,resources.limits.memory=128Mi",
            "-n",
            "other",
        ],
    ),
    ("helm-create", &["my-release"]),
    (
        "helm-create",
        &[
            "my-release",
            "--set",
            "ingress.enabled=true",
            "--set",
            "autoscaling.enabled=true",
            "--skip-tests",
        ],
    ),
    (
        "helm-create",
        &[
            "x",
            "--set",
            "serviceAccount.create=false",
            "--set",
            "image.tag=1.2.3",
            "--show-only",
            "templates/deployment.yaml",
        ],
    ),
    ("library-common", &["web"]),
    (
        "library-common",
        &[
            "webapp-prod",
            "--set",
            "fullnameOverride=custom",
            "--set",
            "image.digest=sha256:abc",
            "--set",
            "global.imageRegistry=mirror.local",
        ],
    ),
    ("subcharts", &["plat"]),
    (
        "subcharts",
        &[
            "plat",
            "--set",
            "global.cacheEnabled=true",
            "--set",
            "tags.monitoring=false",
            "--set",
            "backend.enabled=false",
        ],
    ),
    (
        "subcharts",
        &[
            "plat",
            "--set",
            "cache.enabled=true",
            "--set",
            "global.env=staging",
        ],
    ),
    ("tpl-values", &["tplrel", "-n", "tenant-a"]),
    ("files-config", &["files"]),
    ("capabilities", &["caps"]),
    (
        "capabilities",
        &[
            "caps",
            "--kube-version",
            "1.29.3",
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--api-versions",
            "policy/v1/PodDisruptionBudget",
        ],
    ),
    ("capabilities", &["caps", "--kube-version", "v1.18.0"]),
    ("lookup-required", &["lr", "--set", "database.user=admin"]),
    ("lookup-required", &["lr"]),
    (
        "lookup-required",
        &["lr", "--set", "database.user=admin", "--set", "mode=broken"],
    ),
    ("schema", &["sch"]),
    (
        "schema",
        &[
            "sch",
            "--set",
            "replicas=0",
            "--set",
            "mode=c",
            "--set",
            "image.extra=1",
            "--set",
            "name=x",
        ],
    ),
    (
        "schema",
        &["sch", "--set", "replicas=0", "--skip-schema-validation"],
    ),
    ("hooks", &["hk"]),
    ("hooks", &["hk", "--skip-tests"]),
    ("hooks", &["hk", "--no-hooks"]),
    ("crds", &["c"]),
    ("crds", &["c", "--include-crds"]),
    ("toyaml-nested", &["ty"]),
    ("set-edge-cases", &["se"]),
    (
        "set-edge-cases",
        &[
            "se",
            "-f",
            "testdata/charts/set-edge-cases/override.yaml",
            "--set",
            "replicas=3,image.pullPolicy=Always",
            "--set",
            "removeMe=null",
            "--set",
            "list[3]=d,list[0]=z",
            "--set",
            "servers[0].name=web,servers[0].port=8080,servers[1].name=api",
            "--set",
            "nodeSelector.kubernetes\\.io/os=linux",
            "--set",
            "annotations=a\\,b",
            "--set",
            "tags={x,y,3,true}",
            "--set",
            "float=1.5,leadingZero=007,bool=TRUE,nothing=",
            "--set-string",
            "str=123,strBool=true",
            "--set-json",
            "json={\"k\":[1,2.5,\"s\"],\"n\":null}",
            "--set-json",
            "jsonNum=1000000",
            "--set-file",
            "motd=testdata/charts/set-edge-cases/files/motd.txt",
        ],
    ),
    ("sprig-functions", &["sp"]),
    ("derive-password", &["dp"]),
    ("control-flow", &["cf"]),
    ("v1-requirements", &["legacy"]),
    ("v1-requirements", &["legacy", "--set", "child.enabled=false"]),
    ("ordering", &["ord"]),
    ("errors", &["e"]),
    ("errors", &["e", "--set", "mode=nil"]),
    ("errors", &["e", "--set", "mode=fail"]),
    ("errors", &["e", "--set", "mode=required"]),
    ("errors", &["e", "--set", "mode=include"]),
    ("errors", &["e", "--set", "mode=tpl"]),
    ("errors", &["e", "--set", "mode=missing-define"]),
    ("errors", &["e", "--set", "mode=nil-arg"]),
    ("errors", &["e", "--set", "mode=index"]),
    ("parse-error", &["p"]),
    ("comparisons", &["c"]),
    ("comparisons", &["c", "--set-string", "mode=floatInt"]),
    ("comparisons", &["c", "--set-string", "mode=ltFloatInt"]),
    ("set-edge-cases", &["se", "--set", "a.b"]),
    ("set-edge-cases", &["se", "--set", "list[-1]=x"]),
    (
        "ordering",
        &[
            "ord",
            "--show-only",
            "templates/a-first.yaml",
            "--show-only",
            "templates/b-*.yaml",
        ],
    ),
];

#[test]
fn corpus_matches_helm_template() {
    let Some(helm) = oracle() else {
        return;
    };
    let mut failures = Vec::new();
    for (chart, args) in CASES {
        if let Some(diff) = compare(&helm, &corpus().join(chart), args) {
            failures.push(diff);
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The chart `helm create` generates today, rendered fresh.
#[test]
fn fresh_helm_create_chart_matches() {
    let Some(helm) = oracle() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ferry-helm-create-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let status = Command::new(&helm)
        .arg("create")
        .arg(dir.join("fresh"))
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ferry-helm-oracle-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("ferry-helm-oracle-data"),
        )
        .output()
        .expect("run helm create");
    assert!(
        status.status.success(),
        "helm create failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let diff = compare(
        &helm,
        &dir.join("fresh"),
        &["fresh-release", "--set", "replicaCount=3"],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
}

/// What a PEM value is, without its random parts: block type, key size,
/// and the certificate fields Sprig sets.
fn pem_shape(pem: &str) -> String {
    use base64::Engine as _;
    use x509_parser::prelude::*;
    let block_type = pem
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .unwrap_or("not PEM")
        .to_string();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_default();
    match block_type.as_str() {
        "CERTIFICATE" => {
            let (_, cert) = parse_x509_certificate(&der).expect("certificate parses");
            let validity = cert.validity();
            let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
            let mut extensions: Vec<String> = cert
                .extensions()
                .iter()
                .map(|e| format!("{}{}", e.oid, if e.critical { "!" } else { "" }))
                .collect();
            extensions.sort();
            let sans = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            format!(
                "CERTIFICATE subject={} issuer={} days={days} ca={:?} key_usage={:?} ext_key_usage={:?} \
                 sans={sans:?} signature={} public_key_bits={} extensions={extensions:?}",
                cert.subject(),
                cert.issuer(),
                cert.basic_constraints().ok().flatten().map(|b| b.value.ca),
                cert.key_usage().ok().flatten().map(|k| k.value.flags),
                cert.extended_key_usage()
                    .ok()
                    .flatten()
                    .map(|k| (k.value.server_auth, k.value.client_auth)),
                cert.signature_algorithm.algorithm,
                cert.public_key().parsed().map(|k| k.key_size()).unwrap_or(0),
            )
        }
        "RSA PRIVATE KEY" => {
            // PKCS#1: SEQUENCE { version, modulus, … }; the modulus size is the key size.
            let (_, seq) = x509_parser::der_parser::parse_der(&der).expect("PKCS#1 parses");
            let modulus_bits = seq
                .as_sequence()
                .ok()
                .and_then(|items| items.get(1))
                .and_then(|m| m.as_slice().ok())
                .map(|bytes| bytes.iter().skip_while(|b| **b == 0).count() * 8)
                .unwrap_or(0);
            format!("RSA PRIVATE KEY bits={modulus_bits}")
        }
        "DSA PRIVATE KEY" => {
            // Go's SEQUENCE { version, P, Q, G, Y, X }: the sizes of P and Q.
            let (_, seq) = x509_parser::der_parser::parse_der(&der).expect("DSA key parses");
            let items = seq.as_sequence().map(|s| s.to_vec()).unwrap_or_default();
            let bits = |i: usize| {
                items
                    .get(i)
                    .and_then(|n| n.as_slice().ok())
                    .map(|b| b.iter().skip_while(|b| **b == 0).count() * 8)
                    .unwrap_or(0)
            };
            format!(
                "DSA PRIVATE KEY fields={} L={} N={}",
                items.len(),
                bits(1),
                bits(2)
            )
        }
        other => format!("{other} der_bytes={}", der.len()),
    }
}

/// Certificates and keys are random, so they are compared by shape.
#[test]
fn certificates_match_helm_in_structure() {
    let Some(helm) = oracle() else {
        return;
    };
    let chart = corpus().join("certificates");
    let helm_out = run_oracle(&helm, &chart, &["certs"]);
    let ferry_out = run_ferry(&chart, &["certs"]);
    assert!(helm_out.ok, "helm failed: {}", helm_out.text);
    assert!(ferry_out.ok, "ferry failed: {}", ferry_out.text);
    let shapes = |text: &str| -> Vec<(String, String)> {
        let docs = parsed_documents(text);
        let data = docs
            .first()
            .and_then(|d| d.get("data"))
            .and_then(|d| d.as_object())
            .cloned()
            .unwrap_or_default();
        data.iter()
            .map(|(k, v)| (k.clone(), pem_shape(v.as_str().unwrap_or_default())))
            .collect()
    };
    let expected = shapes(&helm_out.text);
    assert_eq!(expected.len(), 13, "{}", helm_out.text);
    assert_eq!(shapes(&ferry_out.text), expected);
}
