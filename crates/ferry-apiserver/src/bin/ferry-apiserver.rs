//! The API server alone on the embedded SQLite store (what `ferry apiserver` runs), for tests that need
//! a separate process (crash safety) and for benchmarks.
//!
//! Usage: `ferry-apiserver [--data-dir DIR] [--listen ADDR] [--insecure-http]`.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

fn main() -> ExitCode {
    let mut data_dir = PathBuf::from(".ferry");
    let mut listen = "127.0.0.1:6443".to_string();
    let mut tls = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => data_dir = args.next().map(PathBuf::from).unwrap_or(data_dir),
            "--listen" => listen = args.next().unwrap_or(listen),
            "--insecure-http" => tls = false,
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: ferry-apiserver [--data-dir DIR] [--listen ADDR] [--insecure-http]"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(data_dir, listen, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(data_dir: PathBuf, listen: String, tls: bool) -> Result<(), String> {
    let addr = listen.parse().map_err(|e| format!("--listen {listen:?}: {e}"))?;
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let store =
        ferry_store::SqliteStore::open(&data_dir.join("state.db"), ferry_store::SqliteOptions::default())
            .map_err(|e| format!("opening the store: {e}"))?;
    let mut config = ferry_apiserver::Config::new(addr, data_dir, Arc::new(store));
    config.tls = tls;
    let running = ferry_apiserver::start(config).await.map_err(|e| e.to_string())?;
    println!("API server: {}", running.url);
    println!("kubeconfig: {}", running.kubeconfig.display());
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    running.shutdown().await;
    Ok(())
}
