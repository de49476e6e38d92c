//! How many warm containers a function should have: its calls per second,
//! decaying, times the time a container takes to start, plus one; none
//! once it has been idle.

use std::time::{Duration, Instant};

use super::PoolConfig;

/// The half-life of a function's call rate.
const RATE_HALF_LIFE: Duration = Duration::from_secs(10);

/// A function's calls per second, decaying with [`RATE_HALF_LIFE`], and
/// when it was last called.
#[derive(Debug, Default, Clone, Copy)]
pub struct Demand {
    score: f64,
    last: Option<Instant>,
}

impl Demand {
    pub fn call(&mut self, now: Instant) {
        self.score = self.score_at(now) + 1.0;
        self.last = Some(now);
    }

    fn score_at(&self, now: Instant) -> f64 {
        match self.last {
            Some(last) => {
                let halves = now.saturating_duration_since(last).as_secs_f64()
                    / RATE_HALF_LIFE.as_secs_f64();
                self.score * 0.5f64.powf(halves)
            }
            None => 0.0,
        }
    }

    /// Calls per second now.
    fn rate(&self, now: Instant) -> f64 {
        self.score_at(now) * std::f64::consts::LN_2 / RATE_HALF_LIFE.as_secs_f64()
    }

    /// How many warm containers the function should have: none once idle;
    /// else enough to cover the calls arriving while one starts, plus one.
    pub fn target(&self, now: Instant, start_seconds: f64, config: &PoolConfig) -> usize {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < config.idle => {
                let arriving = (self.rate(now) * start_seconds).ceil() as usize;
                (arriving + 1).min(config.per_function)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PoolConfig {
        PoolConfig {
            idle: Duration::from_secs(300),
            per_function: 10,
            total: 32,
            memory_bytes: 1 << 30,
            launcher_image: "faas/fwatchdog:latest".into(),
        }
    }

    #[test]
    fn the_pool_follows_the_call_rate_within_its_cap() {
        let config = config();
        let t0 = Instant::now();
        let mut demand = Demand::default();
        assert_eq!(demand.target(t0, 0.5, &config), 0, "never called");
        demand.call(t0);
        assert_eq!(
            demand.target(t0, 0.5, &config),
            2,
            "one call: one and a spare"
        );
        for i in 0..100 {
            demand.call(t0 + Duration::from_millis(10 * i));
        }
        let busy = t0 + Duration::from_secs(1);
        assert_eq!(demand.target(busy, 0.5, &config), 5, "about 7 calls/s");
        let capped = PoolConfig {
            per_function: 3,
            ..config.clone()
        };
        assert_eq!(demand.target(busy, 0.5, &capped), 3, "capped per function");
        let quieter = busy + Duration::from_secs(60);
        assert_eq!(demand.target(quieter, 0.5, &config), 2, "the rate decays");
        let idle = busy + config.idle;
        assert_eq!(demand.target(idle, 0.5, &config), 0, "idle: none");
    }
}
