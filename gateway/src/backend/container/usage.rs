//! What service replicas use, from the engine's container stats, kept in a
//! cache that listing reads without waiting ([`UsageCache`]). A sampler
//! task reads its [`Source`] every [`EVERY`], but only while someone has
//! asked within [`WANTED_FOR`]: an idle gateway does not poll the engine.
//! The source is the gateway's own engine ([`Local`]: every replica this
//! gateway runs there, i.e. containers with its owner and function labels,
//! per-call ones left out), or on a Swarm, every node's (the agents').

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::engine::Engine;
use super::error::EngineError;
use super::labels;
use crate::backend::Usage;
use crate::clock;

/// How often replicas are sampled while usage is wanted.
const EVERY: Duration = Duration::from_secs(5);
/// How long after the last ask sampling goes on.
const WANTED_FOR: Duration = Duration::from_secs(60);
/// Longest wait for one container's stats.
const STATS_LIMIT: Duration = Duration::from_secs(5);

/// The last sample of every function's replicas.
#[derive(Default)]
pub struct UsageCache {
    sampled: Mutex<HashMap<String, Usage>>,
    /// Unix milliseconds of the last ask.
    asked: AtomicI64,
}

impl UsageCache {
    /// A cache with its sampler task reading `source`, which ends when the
    /// cache is dropped.
    pub fn start(source: impl Source) -> Arc<UsageCache> {
        let cache = Arc::new(UsageCache::default());
        tokio::spawn(sample(Arc::downgrade(&cache), source));
        cache
    }

    /// The last sample of `function`'s replicas (zero before the first);
    /// marks usage as wanted.
    pub fn get(&self, function: &str) -> Usage {
        self.asked.store(clock::now_ms(), Ordering::Relaxed);
        self.lock().get(function).copied().unwrap_or_default()
    }

    fn wanted(&self) -> bool {
        let asked = self.asked.load(Ordering::Relaxed);
        asked > 0 && clock::now_ms() - asked < WANTED_FOR.as_millis() as i64
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Usage>> {
        self.sampled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a sampler reads what replicas use, summed per function.
#[async_trait::async_trait]
pub trait Source: Send + Sync + 'static {
    /// What every function's replicas use now, by function name.
    async fn read(&self) -> Result<HashMap<String, Usage>, EngineError>;
}

/// The replicas of the engine's owner on the engine itself.
pub struct Local(pub Engine);

#[async_trait::async_trait]
impl Source for Local {
    async fn read(&self) -> Result<HashMap<String, Usage>, EngineError> {
        replicas_usage(&self.0, &self.0.owner).await
    }
}

/// Adds what `more` says each function uses to `sum`.
pub fn add(sum: &mut HashMap<String, Usage>, more: HashMap<String, Usage>) {
    for (function, usage) in more {
        *sum.entry(function).or_default() += usage;
    }
}

/// The sampler: every [`EVERY`], while wanted, what `source` reads.
async fn sample(cache: Weak<UsageCache>, source: impl Source) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(cache) = cache.upgrade() else { return };
        if !cache.wanted() {
            continue;
        }
        match source.read().await {
            Ok(fresh) => *cache.lock() = fresh,
            Err(e) => tracing::debug!("cannot sample the replicas' usage: {e}"),
        }
    }
}

/// The stats of every replica on `engine` of the gateway `owner`, summed
/// per function.
pub async fn replicas_usage(
    engine: &Engine,
    owner: &str,
) -> Result<HashMap<String, Usage>, EngineError> {
    let owned = vec![labels::owned_by(owner), labels::FUNCTION.to_string()];
    let containers = engine.containers(owned, false).await?;
    let reads = containers.into_iter().filter_map(|c| {
        let labels = c.labels.unwrap_or_default();
        if labels.contains_key(labels::CALL) {
            return None;
        }
        let function = labels.get(labels::FUNCTION)?.clone();
        let id = c.id?;
        Some(async move { (function, stats(engine, &id).await) })
    });
    let mut usage: HashMap<String, Usage> = HashMap::new();
    for (function, one) in futures_util::future::join_all(reads).await {
        *usage.entry(function).or_default() += one.unwrap_or_default();
    }
    Ok(usage)
}

/// One container's use: the engine's two samples a second apart.
async fn stats(engine: &Engine, id: &str) -> Option<Usage> {
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(false)
        .build();
    let mut stream = engine.docker.stats(id, Some(options));
    let first = tokio::time::timeout(STATS_LIMIT, stream.next()).await;
    Some(of(&first.ok()??.ok()?))
}

/// Cores busy and memory in use (less the page cache that can be dropped,
/// as `docker stats` counts it) in one stats answer.
fn of(stats: &ContainerStatsResponse) -> Usage {
    let total = |s: &Option<bollard::models::ContainerCpuStats>| {
        let s = s.as_ref();
        (
            s.and_then(|s| s.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0),
            s.and_then(|s| s.system_cpu_usage).unwrap_or(0),
        )
    };
    let (cpu, system) = total(&stats.cpu_stats);
    let (pre_cpu, pre_system) = total(&stats.precpu_stats);
    let cpus = stats
        .cpu_stats
        .as_ref()
        .and_then(|s| s.online_cpus)
        .unwrap_or(1)
        .max(1);
    let (busy, elapsed) = (
        cpu.saturating_sub(pre_cpu),
        system.saturating_sub(pre_system),
    );
    let cores = if elapsed == 0 || pre_system == 0 {
        0.0
    } else {
        busy as f64 / elapsed as f64 * f64::from(cpus)
    };
    let memory = stats.memory_stats.as_ref().map_or(0, |m| {
        let used = m.usage.unwrap_or(0);
        let cache = m.stats.as_ref().and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
                .copied()
        });
        used.saturating_sub(cache.unwrap_or(0))
    });
    Usage {
        cpu: cores,
        total_memory_bytes: memory as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_cores_busy_and_memory_less_cache() {
        let stats: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000u64}, "system_cpu_usage": 20_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000u64}, "system_cpu_usage": 10_000_000u64},
            "memory_stats": {"usage": 5000, "stats": {"inactive_file": 1000}},
        }))
        .expect("stats parse");
        let usage = of(&stats);
        assert!((usage.cpu - 0.4).abs() < 1e-9, "{usage:?}");
        assert_eq!(usage.total_memory_bytes, 4000.0);
        assert_eq!(of(&ContainerStatsResponse::default()), Usage::default());
    }
}
