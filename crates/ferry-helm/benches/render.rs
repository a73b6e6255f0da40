//! Render-time benchmark: `helm create`'s chart and the largest corpus chart,
//! in-process and as a process, side by side with `helm template`.
//!
//! `cargo bench -p ferry-helm --bench render` (results go to BENCHMARKS.md by
//! hand). The helm oracle comes from `$FERRY_HELM_ORACLE` or
//! `scripts/.cache/helm-4.1.4/helm`; the `ferry` binary from `$FERRY_BIN` or
//! `<target>/release/ferry`. Missing binaries skip their rows. Peak memory of
//! processes is read with `/usr/bin/time -f %M` when available.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_helm::{Chart, RenderOptions};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/charts")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn template_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += template_bytes(&path);
        } else if path.to_string_lossy().contains("/templates/") {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

fn largest_corpus_chart() -> String {
    let mut best = (0, String::new());
    if let Ok(entries) = std::fs::read_dir(corpus()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "errors" | "parse-error" | "helm-create") {
                continue;
            }
            let size = template_bytes(&entry.path());
            if size > best.0 {
                best = (size, name);
            }
        }
    }
    best.1
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn in_process(chart_dir: &Path, iterations: usize) -> (Duration, Duration) {
    let options = RenderOptions {
        release_name: "bench".to_string(),
        ..RenderOptions::default()
    };
    let chart = Chart::load(chart_dir).expect("chart loads");
    // Render only (chart already loaded).
    let mut render_only = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let out = ferry_helm::render_chart(&chart, serde_json::Map::new(), &options).expect("renders");
        render_only.push(start.elapsed());
        std::hint::black_box(out);
    }
    // Load from disk + render.
    let mut load_and_render = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let chart = Chart::load(chart_dir).expect("chart loads");
        let out = ferry_helm::render_chart(&chart, serde_json::Map::new(), &options).expect("renders");
        load_and_render.push(start.elapsed());
        std::hint::black_box(out);
    }
    (median(render_only), median(load_and_render))
}

/// Median wall time and max peak RSS (KiB) of `program template bench <chart>`.
fn as_process(program: &Path, chart_dir: &Path, iterations: usize) -> Option<(Duration, Option<u64>)> {
    if !program.is_file() {
        return None;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let out = Command::new(program)
            .arg("template")
            .arg("bench")
            .arg(chart_dir)
            .env("KUBECONFIG", "/dev/null")
            .output()
            .ok()?;
        samples.push(start.elapsed());
        if !out.status.success() {
            eprintln!(
                "{} failed: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
    }
    let rss = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(program)
        .arg("template")
        .arg("bench")
        .arg(chart_dir)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<u64>().ok())
        });
    Some((median(samples), rss))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let helm = std::env::var_os("FERRY_HELM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("scripts/.cache/helm-4.1.4/helm"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let mut ferry = std::env::var_os("FERRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("release/ferry"));
    if !ferry.is_file() {
        // `cargo build --release -p ferry-helm --example template`
        let stand_in = target.join("release/examples/template");
        if stand_in.is_file() {
            eprintln!("ferry binary not found; measuring the `template` example process instead");
            ferry = stand_in;
        }
    }

    let charts = ["helm-create".to_string(), largest_corpus_chart()];
    println!(
        "| chart | ferry in-process (render) | ferry in-process (load+render) | ferry process | ferry peak RSS | helm process | helm peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for chart in charts {
        let dir = corpus().join(&chart);
        let (render_only, load_render) = in_process(&dir, 200);
        let ferry_process = as_process(&ferry, &dir, 20);
        let helm_process = as_process(&helm, &dir, 20);
        let show = |p: &Option<(Duration, Option<u64>)>| match p {
            Some((t, rss)) => (
                ms(*t),
                rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "n/a".to_string()),
            ),
            None => ("n/a".to_string(), "n/a".to_string()),
        };
        let (fp, fr) = show(&ferry_process);
        let (hp, hr) = show(&helm_process);
        println!(
            "| {chart} | {} | {} | {fp} | {fr} | {hp} | {hr} |",
            ms(render_only),
            ms(load_render)
        );
    }
}
