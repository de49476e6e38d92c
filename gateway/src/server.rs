//! Start-up and shutdown: open the store and recover the previous run's
//! calls, load the functions, serve the routes until SIGTERM or Ctrl-C, then
//! drain (in-flight requests get a grace period) and flush the store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::callback::HttpNotifier;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::store::{self, Caps, Store};

/// How long in-flight requests may go on after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

pub fn run(mut config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let password = crate::auth::load(&config)?;
    let caps = Caps {
        output_bytes: config.output_cache_bytes,
        log_bytes: config.log_cache_bytes,
    };
    let (store, recovered, writer) = Store::open(&config.data_dir, caps)
        .with_context(|| format!("cannot open the database in {}", config.data_dir.display()))?;
    if recovered.failed > 0 {
        tracing::warn!("{} calls were running or waiting synchronously when the gateway stopped: marked FAILED", recovered.failed);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let functions = store.read(store::functions).await?;
        let backend = crate::backend::select::open(&config)
            .await
            .map_err(anyhow::Error::msg)?;
        if !config.bind_given {
            config.listen.set_ip(Config::default_bind(backend.name()));
        }
        let registry = Registry::default();
        for function in functions {
            if let Err(e) = backend.deploy(&function).await {
                tracing::warn!(
                    "function {} cannot run on the {} backend: {e}",
                    function.name,
                    backend.name()
                );
            }
            registry.insert_new(function);
        }
        for name in backend.list().await.unwrap_or_default() {
            if registry.get(&name).is_none() {
                tracing::warn!(
                    "the {} backend runs {name}, which the gateway does not know",
                    backend.name()
                );
            }
        }
        let metrics = Metrics::new()?;
        let app = Arc::new(App {
            scheduler: Scheduler::new(config.quota, config.max_queue, metrics.clone()),
            config: config.clone(),
            store: store.clone(),
            backend,
            registry,
            metrics,
            notifier: Arc::new(HttpNotifier::new()),
            password,
        });
        if !recovered.queued.is_empty() {
            tracing::info!("resuming {} queued async calls", recovered.queued.len());
        }
        app.resume(recovered.queued);
        serve(app.clone()).await?;
        // Everything written so far is committed once this write is.
        let _ = store.commit(crate::store::Write::Barrier).await;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    drop(store);
    drop(writer);
    Ok(())
}

async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(app.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.listen))?;
    let address = listener.local_addr()?;
    println!(
        "gateway listening on http://{address} (backend {})",
        app.backend.name()
    );
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let stop = CancellationToken::new();
    tokio::spawn(signals(stop.clone()));
    tokio::spawn(crate::autoscale::run(app.clone(), stop.clone()));
    let router = crate::routes::router(app);
    let server =
        axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
    tokio::select! {
        result = server => result?,
        _ = async { stop.cancelled().await; tokio::time::sleep(GRACE).await } => {
            tracing::warn!("requests still running after {GRACE:?}: stopping anyway");
        }
    }
    Ok(())
}

async fn signals(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    stop.cancel();
}
