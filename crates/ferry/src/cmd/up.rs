//! `ferry up`, `ferry apiserver` and `ferry kubeconfig`: the embedded cluster.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;

/// Arguments of `ferry up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ApiserverArgs,
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Multiplier on simulated delays (image pulls, container starts, probes): 0 = instant, 1 = realistic.
    #[arg(long, default_value_t = 1.0)]
    pub sim_speed: f64,
    /// Where pipeline steps run: `local` (sandboxed processes on this machine, the embedded
    /// default) or `pod` (a Pod per TaskRun as Tekton lays it out: the mode for real clusters;
    /// here the simulated kubelet runs the Pods).
    #[arg(long, visible_alias = "executor", value_enum, default_value_t = PipelinesExecutor::Local)]
    pub pipelines_executor: PipelinesExecutor,
}

/// `--pipelines-executor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PipelinesExecutor {
    Local,
    Pod,
}

impl From<PipelinesExecutor> for ferry_pipelines::controller::ExecutorKind {
    fn from(value: PipelinesExecutor) -> Self {
        match value {
            PipelinesExecutor::Local => ferry_pipelines::controller::ExecutorKind::Local,
            PipelinesExecutor::Pod => ferry_pipelines::controller::ExecutorKind::Pod,
        }
    }
}

/// Arguments of `ferry apiserver`.
#[derive(Debug, clap::Args)]
pub struct ApiserverArgs {
    /// Where the embedded cluster keeps its state, certificates and kubeconfig.
    #[arg(long, default_value = ".ferry", env = "FERRY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: String,
    /// Feature gates, e.g. `TemplateNoDefaults=true`.
    #[arg(long, value_delimiter = ',')]
    pub feature_gates: Vec<String>,
    /// Serve plain HTTP instead of TLS (local debugging only).
    #[arg(long)]
    pub insecure_http: bool,
}

/// Arguments of `ferry kubeconfig`.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    #[arg(long, default_value = ".ferry", env = "FERRY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Print a kubeconfig that authenticates with the admin client certificate instead of the token
    /// (the default kubeconfig also offers it as the context `ferry-admin-cert`).
    #[arg(long)]
    pub client_cert: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Starts the API server on the embedded SQLite store and waits for Ctrl-C.
async fn serve(
    args: ApiserverArgs,
    what: &str,
    cluster: Option<(usize, f64, PipelinesExecutor)>,
) -> anyhow::Result<()> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}", args.listen))?;
    let feature_gates = ferry_apiserver::parse_feature_gates(&args.feature_gates)
        .map_err(|e| anyhow::anyhow!("--feature-gates: {e}"))?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let db = args.data_dir.join("state.db");
    let store = ferry_store::SqliteStore::open(&db, ferry_store::SqliteOptions::default())
        .with_context(|| format!("opening {}", db.display()))?;
    let store: Arc<dyn ferry_store::Storage> = Arc::new(store);
    let mut config = ferry_apiserver::Config::new(listen, args.data_dir.clone(), store.clone());
    (config.mutating_admission, config.validating_admission) =
        crate::cluster::admission(store, &feature_gates);
    config.feature_gates = feature_gates;
    config.tls = !args.insecure_http;
    let running = ferry_apiserver::start(config)
        .await
        .context("starting the API server")?;
    let controllers = match cluster {
        Some((nodes, sim_speed, pipelines_executor)) => {
            let client = crate::cluster::client(&running.kubeconfig).await?;
            let options = crate::cluster::ClusterOptions {
                nodes,
                sim_speed,
                pipelines_executor: pipelines_executor.into(),
                data_dir: args.data_dir.clone(),
                kubeconfig: running.kubeconfig.clone(),
            };
            Some(crate::cluster::Controllers::start(client, &options).await?)
        }
        None => None,
    };
    println!("{what} is ready");
    println!("API server: {}", running.url);
    println!("kubeconfig: {}", running.kubeconfig.display());
    println!(
        "try: KUBECONFIG={} kubectl get namespaces",
        running.kubeconfig.display()
    );
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    eprintln!("shutting down");
    if let Some(controllers) = controllers {
        controllers.shutdown().await;
    }
    running.shutdown().await;
    Ok(())
}

pub fn run_up(args: Args) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(serve(
        args.server,
        "Ferry (embedded cluster)",
        Some((args.nodes, args.sim_speed, args.pipelines_executor)),
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_apiserver(args: ApiserverArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(serve(args, "Ferry API server", None))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_kubeconfig(args: KubeconfigArgs) -> anyhow::Result<ExitCode> {
    let path = if args.client_cert {
        args.data_dir.join(ferry_apiserver::tls::CERT_KUBECONFIG)
    } else {
        args.data_dir.join("kubeconfig")
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "reading {}: {e} (has `ferry up` run with this --data-dir?)",
            path.display()
        )
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
