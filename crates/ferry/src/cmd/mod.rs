//! Subcommands of the `ferry` binary.

pub mod argocd;
pub mod entrypoint;
pub mod health;
pub mod template;
pub mod tkn;
pub mod up;

/// Logs go to stderr; `RUST_LOG` selects the level (default `info` for Ferry's crates).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferry=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
