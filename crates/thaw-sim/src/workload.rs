//! Arrival processes, generated lazily so memory does not grow with the
//! number of invocations.
use crate::config::WorkloadConfig;
use rand::Rng;
use thaw_core::{SimDuration, SimRng, SimTime};

/// Produces arrival times in order.
pub struct Arrivals {
    cfg: WorkloadConfig,
    next_index: u64,
    last: SimTime,
    rng: SimRng,
}

impl Arrivals {
    /// Arrivals for `cfg`, drawing from `rng` (the "workload" stream).
    pub fn new(cfg: WorkloadConfig, rng: SimRng) -> Self {
        let last = match &cfg {
            WorkloadConfig::At(_) | WorkloadConfig::Mixed(_) => SimTime::ZERO,
            WorkloadConfig::Poisson { start, .. } => SimTime::ZERO + *start,
        };
        Arrivals {
            cfg,
            next_index: 0,
            last,
            rng,
        }
    }

    /// The next arrival and the function it invokes; `None` when there is
    /// none left, or when it would come at `SimTime::MAX` (the end of time:
    /// it never comes, nor does any later one).
    pub fn next_invocation(&mut self) -> Option<(SimTime, u16)> {
        let i = self.next_index;
        let mut func = 0;
        let t = match &self.cfg {
            WorkloadConfig::At(v) => SimTime::ZERO + *v.get(i as usize)?,
            WorkloadConfig::Mixed(v) => {
                let (d, f) = *v.get(i as usize)?;
                func = f;
                SimTime::ZERO + d
            }
            WorkloadConfig::Poisson {
                rate_per_s, count, ..
            } => {
                if i >= *count {
                    return None;
                }
                // Exponential inter-arrival: -ln(U)/rate, U in (0, 1].
                let u: f64 = 1.0 - self.rng.random::<f64>();
                // libm: the same bits on every platform, unlike the system's ln().
                let secs = -libm::log(u) / rate_per_s;
                let ns = (secs * 1e9).round();
                let gap = if ns.is_finite() && ns < u64::MAX as f64 {
                    SimDuration::from_nanos(ns as u64)
                } else {
                    SimDuration::MAX
                };
                self.last.saturating_add(gap)
            }
        };
        if t == SimTime::MAX {
            // The end of time: this arrival never comes, and neither does
            // any later one (they are in order).
            return None;
        }
        self.next_index += 1;
        self.last = t;
        Some((t, func))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_core::RngStreams;

    #[test]
    fn poisson_mean_rate_is_close() {
        let cfg = WorkloadConfig::Poisson {
            rate_per_s: 10.0,
            start: SimDuration::ZERO,
            count: 20_000,
        };
        let mut a = Arrivals::new(cfg, RngStreams::new(7).stream("workload"));
        let mut last = SimTime::ZERO;
        let mut n = 0;
        while let Some(t) = a.next_invocation().map(|(t, _)| t) {
            assert!(t >= last);
            last = t;
            n += 1;
        }
        assert_eq!(n, 20_000);
        let rate = n as f64 / last.as_secs_f64();
        assert!((rate - 10.0).abs() < 0.3, "rate {rate}");
    }

    #[test]
    fn arrivals_at_the_end_of_time_never_come() {
        // Gaps of ~10^6 years saturate at the end of time.
        let cfg = WorkloadConfig::Poisson {
            rate_per_s: 1e-15,
            start: SimDuration::ZERO,
            count: 5,
        };
        let mut a = Arrivals::new(cfg, RngStreams::new(1).stream("workload"));
        assert_eq!(a.next_invocation(), None);
        assert_eq!(a.next_invocation(), None);
        let cfg = WorkloadConfig::Poisson {
            rate_per_s: 1.0,
            start: SimDuration::MAX,
            count: 5,
        };
        let mut a = Arrivals::new(cfg, RngStreams::new(1).stream("workload"));
        assert_eq!(a.next_invocation(), None);
        let last = SimDuration::from_nanos(u64::MAX - 1);
        let cfg = WorkloadConfig::At(vec![SimDuration::ZERO, last, SimDuration::MAX]);
        let mut a = Arrivals::new(cfg, RngStreams::new(1).stream("workload"));
        assert_eq!(a.next_invocation(), Some((SimTime::ZERO, 0)));
        assert_eq!(a.next_invocation(), Some((SimTime::ZERO + last, 0)));
        assert_eq!(a.next_invocation(), None);
    }

    #[test]
    fn explicit_times_in_order() {
        let cfg = WorkloadConfig::At(vec![SimDuration::ZERO, SimDuration::from_secs(95)]);
        let mut a = Arrivals::new(cfg, RngStreams::new(1).stream("workload"));
        assert_eq!(a.next_invocation().map(|(t, _)| t), Some(SimTime::ZERO));
        assert_eq!(
            a.next_invocation().map(|(t, _)| t),
            Some(SimTime::from_secs(95))
        );
        assert_eq!(a.next_invocation().map(|(t, _)| t), None);
    }
}
