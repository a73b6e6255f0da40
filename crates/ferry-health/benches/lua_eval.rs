//! Evaluations per second of the seed's CloneSet health script on a realistic ~3.7 KiB CloneSet,
//! object conversion included, single thread — side by side with Debian's reference `lua5.1` +
//! `lua-cjson` (decode the JSON, run the chunk) when they are installed.
//!
//! Times are CPU time of the measuring thread (`/proc/thread-self/stat`; the reference uses
//! `os.clock()`, also CPU time), so a busy machine distorts the comparison less than wall time.
//! Run: `cargo bench -p ferry-health --bench lua_eval`. Prints numbers; records nothing.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_health::script::eval_health_script;
use ferry_health::{Libraries, LuaRuntime, ResourceOverrides, assess};
use serde_json::Value;

const BUDGET: Duration = Duration::from_millis(1500);

/// CPU seconds used by this thread (user + system), at clock-tick resolution (10 ms).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// Runs `work` repeatedly for about `BUDGET` of wall time; returns (iterations, CPU seconds), or
/// wall seconds where thread CPU time is unavailable.
fn measure(mut work: impl FnMut()) -> (u64, f64) {
    for _ in 0..1000 {
        work();
    }
    let started = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut iterations = 0u64;
    while started.elapsed() < BUDGET {
        for _ in 0..1000 {
            work();
        }
        iterations += 1000;
    }
    let seconds = match (cpu_start, thread_cpu_seconds()) {
        (Some(start), Some(end)) if end > start => end - start,
        _ => started.elapsed().as_secs_f64(),
    };
    (iterations, seconds)
}

fn report(label: &str, iterations: u64, seconds: f64) {
    let per_second = iterations as f64 / seconds;
    println!(
        "{label:<58} {:>12.0} evals/s {:>9.2} µs/eval",
        per_second,
        1e6 / per_second
    );
}

const REFERENCE_LUA: &str = r#"
local cjson = require("cjson")
local text = assert(io.open(arg[1])):read("*a")
local chunk = assert(loadstring(assert(io.open(arg[2])):read("*a")))
local iterations = tonumber(arg[3])
for i = 1, 1000 do setfenv(chunk, { obj = cjson.decode(text) }) chunk() end
local started = os.clock()
for i = 1, iterations do
  setfenv(chunk, { obj = cjson.decode(text) })
  chunk()
end
local decoded = os.clock() - started
local obj = cjson.decode(text)
started = os.clock()
for i = 1, iterations * 10 do
  setfenv(chunk, { obj = obj })
  chunk()
end
local predecoded = os.clock() - started
print(decoded, predecoded)
"#;

fn run_reference(interpreter: &str, json_path: &Path, script_path: &Path, iterations: u64) {
    let dir = std::env::temp_dir().join(format!("ferry-health-bench-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        println!("{interpreter}: skipped (cannot create a temp dir)");
        return;
    }
    let driver = dir.join("driver.lua");
    if std::fs::write(&driver, REFERENCE_LUA).is_err() {
        println!("{interpreter}: skipped (cannot write the driver)");
        return;
    }
    let output = Command::new(interpreter)
        .arg(&driver)
        .arg(json_path)
        .arg(script_path)
        .arg(iterations.to_string())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match output {
        Err(_) => {
            println!("{interpreter}: not installed, reference skipped (install it and lua-cjson to compare)")
        }
        Ok(output) if !output.status.success() => println!(
            "{interpreter}: reference skipped ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            let numbers: Vec<f64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            if let [decoded, predecoded] = numbers[..] {
                report(
                    &format!("{interpreter} + lua-cjson: decode JSON + run chunk"),
                    iterations,
                    decoded,
                );
                report(
                    &format!("{interpreter}: run chunk on a pre-decoded table"),
                    iterations * 10,
                    predecoded,
                );
            } else {
                println!("{interpreter}: unexpected output {text:?}");
            }
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let json_path = root.join("bench/cloneset.json");
    let script_path = root.join("seed/apps.kruise.io/CloneSet/health.lua");
    let (Ok(json_text), Ok(script)) = (
        std::fs::read_to_string(&json_path),
        std::fs::read_to_string(&script_path),
    ) else {
        println!("bench inputs missing under {}", root.display());
        return;
    };
    let Ok(obj) = serde_json::from_str::<Value>(&json_text) else {
        println!("bench object is not JSON");
        return;
    };
    println!(
        "object: {} bytes of JSON; script: seed argocd-cm CloneSet check; single thread",
        json_text.trim_end().len()
    );

    let runtime = LuaRuntime::default();
    let check = eval_health_script(&runtime, &script, Libraries::Restricted, &obj);
    println!("result: {check:?}");

    // A fixed number of evaluations and nothing else, for instruction counting under
    // `valgrind --tool=callgrind` (load-independent): run with two counts and subtract.
    if let Some(count) = std::env::var("FERRY_HEALTH_BENCH_EVALS")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
    {
        for _ in 0..count {
            let _ = black_box(eval_health_script(
                &runtime,
                &script,
                Libraries::Restricted,
                black_box(&obj),
            ));
        }
        println!("ran {count} evaluations");
        return;
    }

    let (n, s) = measure(|| {
        let _ = black_box(eval_health_script(
            &runtime,
            &script,
            Libraries::Restricted,
            black_box(&obj),
        ));
    });
    report("ferry Lua (mlua/LuaJIT interp, lazy obj) + run chunk", n, s);
    let reference_iterations = n.max(10_000);

    let overrides = ResourceOverrides::with_health_script("apps.kruise.io/CloneSet", &script, false);
    let (n, s) = measure(|| {
        let _ = black_box(assess(black_box(&obj), &overrides));
    });
    report("ferry assess() with the argocd-cm override", n, s);

    let none = ResourceOverrides::default();
    let (n, s) = measure(|| {
        let _ = black_box(assess(black_box(&obj), &none));
    });
    report("ferry assess() with the built-in Rust CloneSet check", n, s);

    let (n, s) = measure(|| {
        let parsed: Value = serde_json::from_str(black_box(&json_text)).unwrap_or(Value::Null);
        let _ = black_box(eval_health_script(
            &runtime,
            &script,
            Libraries::Restricted,
            &parsed,
        ));
    });
    report("ferry: parse JSON text + convert + run (like lua-cjson)", n, s);

    run_reference("lua5.1", &json_path, &script_path, reference_iterations);
    run_reference("luajit", &json_path, &script_path, reference_iterations);

    // Once more after the reference, to show how much the machine's load moved meanwhile.
    let (n, s) = measure(|| {
        let _ = black_box(eval_health_script(
            &runtime,
            &script,
            Libraries::Restricted,
            black_box(&obj),
        ));
    });
    report("ferry Lua again, after the reference", n, s);
}
