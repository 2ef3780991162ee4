//! Arrival processes, generated lazily so memory does not grow with the
//! number of invocations: each form keeps a few counters, and the lists it
//! reads (explicit times, bursts, per-minute counts) come from the scenario.
use crate::config::{Burst, RateCurve, WorkloadConfig};
use rand::Rng;
use thaw_core::{SimDuration, SimRng, SimTime};

const MINUTE: SimDuration = SimDuration::from_secs(60);

/// Produces arrival times in order.
pub struct Arrivals {
    base: Source,
    bursts: Bursts,
    /// The next arrival of each part, once drawn (`None`: not drawn yet).
    peek_base: Option<Option<(SimTime, u16)>>,
    peek_burst: Option<Option<SimTime>>,
    rng: SimRng,
}

/// One arrival process other than bursts, and where it is.
struct Source {
    cfg: WorkloadConfig,
    /// Arrivals produced (or, for `PerMinute`, produced in this minute).
    next_index: u64,
    /// The last arrival (or candidate, for `Rate`).
    last: SimTime,
    /// `Rate` steps: the current piece; `PerMinute`: the current minute.
    part: usize,
    /// The end of time was reached: nothing more comes.
    done: bool,
}

/// Bursts, in order, and where they are.
struct Bursts {
    list: Vec<Burst>,
    burst: usize,
    j: u64,
}

impl Arrivals {
    /// Arrivals for `cfg`, drawing from `rng` (the "workload" stream).
    pub fn new(cfg: WorkloadConfig, rng: SimRng) -> Self {
        let (base, list) = match cfg {
            WorkloadConfig::WithBursts(base, list) => (*base, list),
            other => (other, Vec::new()),
        };
        let last = match &base {
            WorkloadConfig::Poisson { start, .. } | WorkloadConfig::Rate { start, .. } => {
                SimTime::ZERO + *start
            }
            _ => SimTime::ZERO,
        };
        Arrivals {
            base: Source {
                cfg: base,
                next_index: 0,
                last,
                part: 0,
                done: false,
            },
            bursts: Bursts {
                list,
                burst: 0,
                j: 0,
            },
            peek_base: None,
            peek_burst: None,
            rng,
        }
    }

    /// The next arrival and the function it invokes; `None` when there is
    /// none left, or when it would come at `SimTime::MAX` (the end of time:
    /// it never comes, nor does any later one).
    pub fn next_invocation(&mut self) -> Option<(SimTime, u16)> {
        let base = *self
            .peek_base
            .get_or_insert_with(|| self.base.next(&mut self.rng));
        let burst = *self.peek_burst.get_or_insert_with(|| self.bursts.next());
        match (base, burst) {
            (Some((b, f)), Some(u)) if b <= u => {
                self.peek_base = None;
                Some((b, f))
            }
            (Some(_), Some(u)) | (None, Some(u)) => {
                self.peek_burst = None;
                Some((u, 0))
            }
            (Some(x), None) => {
                self.peek_base = None;
                Some(x)
            }
            (None, None) => None,
        }
    }
}

/// An exponential gap of mean `1 / rate` seconds: -ln(U)/rate, U in
/// (0, 1], rounded to the nanosecond (saturating at `SimDuration::MAX`).
fn exp_gap(rng: &mut SimRng, rate: f64) -> SimDuration {
    let u: f64 = 1.0 - rng.random::<f64>();
    // libm: the same bits on every platform, unlike the system's ln().
    let secs = -libm::log(u) / rate;
    let ns = (secs * 1e9).round();
    if ns.is_finite() && ns < u64::MAX as f64 {
        SimDuration::from_nanos(ns as u64)
    } else {
        SimDuration::MAX
    }
}

/// The rate of a sine curve at `t`: `mean + amplitude * sin(2 pi t / period)`,
/// the phase computed in integers (`t mod period`) so it stays exact.
fn sine_rate(mean: f64, amplitude: f64, period: SimDuration, t: SimTime) -> f64 {
    let p = period.as_nanos().max(1);
    let phase = (t.as_nanos() % p) as f64 / p as f64;
    mean + amplitude * libm::sin(2.0 * std::f64::consts::PI * phase)
}

impl Source {
    fn next(&mut self, rng: &mut SimRng) -> Option<(SimTime, u16)> {
        if self.done {
            return None;
        }
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
                self.last.saturating_add(exp_gap(rng, *rate_per_s))
            }
            WorkloadConfig::Every {
                period,
                start,
                count,
            } => {
                if i >= *count {
                    return None;
                }
                SimTime::ZERO + start.saturating_add(period.saturating_mul(i))
            }
            WorkloadConfig::Rate {
                curve,
                count,
                until,
                ..
            } => {
                if i >= *count {
                    return None;
                }
                let until = SimTime::ZERO + *until;
                match curve {
                    // Thinning with the piece's own rate as the bound: every
                    // candidate inside the piece is kept, and a candidate
                    // past its end is dropped and the draws restart at the
                    // end (exact: the exponential has no memory).
                    RateCurve::Steps(pieces) => loop {
                        while pieces
                            .get(self.part)
                            .is_some_and(|(end, _)| SimTime::ZERO + *end <= self.last)
                        {
                            self.part += 1;
                        }
                        let &(end, rate) = pieces.get(self.part)?;
                        let end = SimTime::ZERO + end;
                        if rate <= 0.0 {
                            self.last = end;
                            continue;
                        }
                        let cand = self.last.saturating_add(exp_gap(rng, rate));
                        if cand >= end {
                            self.last = end;
                            continue;
                        }
                        self.last = cand;
                        break cand;
                    },
                    // Lewis-Shedler thinning: candidates at the peak rate
                    // `mean + amplitude`, each kept with probability
                    // rate(t) / peak (a second draw).
                    RateCurve::Sine {
                        mean,
                        amplitude,
                        period,
                    } => {
                        let peak = mean + amplitude;
                        loop {
                            let cand = self.last.saturating_add(exp_gap(rng, peak));
                            if cand >= until {
                                break SimTime::MAX;
                            }
                            self.last = cand;
                            let u: f64 = rng.random::<f64>();
                            if u * peak < sine_rate(*mean, *amplitude, *period, cand) {
                                break cand;
                            }
                        }
                    }
                }
            }
            WorkloadConfig::PerMinute { counts, start } => loop {
                let c = *counts.get(self.part)?;
                if self.next_index < u64::from(c) {
                    let minute = MINUTE.saturating_mul(self.part as u64);
                    let within = MINUTE.mul_ratio(self.next_index, u64::from(c));
                    break SimTime::ZERO + start.saturating_add(minute).saturating_add(within);
                }
                self.part += 1;
                self.next_index = 0;
            },
            // Bursts are split off in `Arrivals::new`; nested ones are
            // refused by the loader.
            WorkloadConfig::WithBursts(..) => return None,
        };
        if t == SimTime::MAX
            || matches!(&self.cfg, WorkloadConfig::Rate { until, .. } if t >= SimTime::ZERO + *until)
        {
            // The end of time (or of the curve): this arrival never comes,
            // and neither does any later one (they are in order).
            self.done = true;
            return None;
        }
        self.next_index += 1;
        self.last = t;
        Some((t, func))
    }
}

impl Bursts {
    fn next(&mut self) -> Option<SimTime> {
        loop {
            let b = *self.list.get(self.burst)?;
            if self.j < b.count {
                let t = SimTime::ZERO + b.at.saturating_add(b.window.mul_ratio(self.j, b.count));
                if t == SimTime::MAX {
                    self.burst = self.list.len();
                    return None;
                }
                self.j += 1;
                return Some(t);
            }
            self.burst += 1;
            self.j = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Burst, RateCurve};
    use thaw_core::RngStreams;

    fn all(cfg: WorkloadConfig, seed: u64) -> Vec<(SimTime, u16)> {
        let mut a = Arrivals::new(cfg, RngStreams::new(seed).stream("workload"));
        std::iter::from_fn(|| a.next_invocation()).collect()
    }

    fn secs(v: &[(SimTime, u16)]) -> Vec<u64> {
        v.iter().map(|(t, _)| t.as_nanos()).collect()
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn every_period_is_exact() {
        let cfg = WorkloadConfig::Every {
            period: SimDuration::from_secs(300),
            start: SimDuration::from_secs(10),
            count: 4,
        };
        assert_eq!(secs(&all(cfg, 1)), vec![10 * S, 310 * S, 610 * S, 910 * S]);
    }

    #[test]
    fn bursts_are_evenly_spaced_and_merge_with_the_base() {
        let bursts = vec![
            Burst {
                at: SimDuration::from_secs(10),
                count: 3,
                window: SimDuration::ZERO,
            },
            Burst {
                at: SimDuration::from_secs(60),
                count: 4,
                window: SimDuration::from_secs(1),
            },
        ];
        let base = WorkloadConfig::At(vec![SimDuration::from_secs(10), SimDuration::from_secs(61)]);
        let got = secs(&all(WorkloadConfig::WithBursts(Box::new(base), bursts), 1));
        assert_eq!(
            got,
            vec![
                10 * S, // the base's arrival first at equal times
                10 * S,
                10 * S,
                10 * S,
                60 * S,
                60 * S + S / 4,
                60 * S + S / 2,
                60 * S + 3 * S / 4,
                61 * S,
            ]
        );
    }

    #[test]
    fn per_minute_counts_spread_evenly() {
        let cfg = WorkloadConfig::PerMinute {
            counts: vec![2, 0, 3, 1],
            start: SimDuration::ZERO,
        };
        assert_eq!(
            secs(&all(cfg, 1)),
            vec![0, 30 * S, 120 * S, 140 * S, 160 * S, 180 * S]
        );
    }

    #[test]
    fn steps_follow_each_piece_rate() {
        // 0..1000s at 2/s, 1000..2000s at 0, 2000..3000s at 0.5/s.
        let cfg = WorkloadConfig::Rate {
            curve: RateCurve::Steps(vec![
                (SimDuration::from_secs(1000), 2.0),
                (SimDuration::from_secs(2000), 0.0),
                (SimDuration::from_secs(3000), 0.5),
            ]),
            start: SimDuration::ZERO,
            count: u64::MAX,
            until: SimDuration::MAX,
        };
        let v = secs(&all(cfg.clone(), 3));
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        let n = |a: u64, b: u64| v.iter().filter(|&&t| t >= a * S && t < b * S).count();
        assert!((1900..2100).contains(&n(0, 1000)), "{}", n(0, 1000));
        assert_eq!(n(1000, 2000), 0);
        assert!((440..560).contains(&n(2000, 3000)), "{}", n(2000, 3000));
        assert_eq!(n(3000, u64::MAX / S), 0);
        // Deterministic: the same seed, the same nanoseconds.
        assert_eq!(v, secs(&all(cfg, 3)));
    }

    #[test]
    fn sine_thinning_follows_the_curve() {
        // Mean 5/s, amplitude 4/s, period 1000s: the first half-period
        // (rate 5 + 4 sin) has about 5*500 + 4*1000/pi = 3773 arrivals, the
        // second about 1227.
        let cfg = WorkloadConfig::Rate {
            curve: RateCurve::Sine {
                mean: 5.0,
                amplitude: 4.0,
                period: SimDuration::from_secs(1000),
            },
            start: SimDuration::ZERO,
            count: u64::MAX,
            until: SimDuration::from_secs(1000),
        };
        let v = secs(&all(cfg.clone(), 5));
        let first = v.iter().filter(|&&t| t < 500 * S).count();
        let second = v.len() - first;
        assert!((3600..3950).contains(&first), "{first}");
        assert!((1100..1360).contains(&second), "{second}");
        assert!(v.iter().all(|&t| t < 1000 * S));
        assert_eq!(v, secs(&all(cfg.clone(), 5)));
        assert_ne!(v, secs(&all(cfg, 6)));
    }

    #[test]
    fn rate_stops_at_count() {
        let cfg = WorkloadConfig::Rate {
            curve: RateCurve::Sine {
                mean: 1.0,
                amplitude: 0.0,
                period: SimDuration::from_secs(60),
            },
            start: SimDuration::from_secs(100),
            count: 7,
            until: SimDuration::MAX,
        };
        let v = secs(&all(cfg, 1));
        assert_eq!(v.len(), 7);
        assert!(v[0] > 100 * S);
    }

    /// Lazy generation: a hundred million arrivals cost no memory up front;
    /// the first few come at once from each form.
    #[test]
    fn huge_counts_are_generated_lazily() {
        let huge = 100_000_000;
        let forms = [
            WorkloadConfig::Every {
                period: SimDuration::from_secs(1),
                start: SimDuration::ZERO,
                count: huge,
            },
            WorkloadConfig::WithBursts(
                Box::new(WorkloadConfig::At(Vec::new())),
                vec![Burst {
                    at: SimDuration::ZERO,
                    count: huge,
                    window: SimDuration::from_secs(1),
                }],
            ),
            WorkloadConfig::Rate {
                curve: RateCurve::Steps(vec![(SimDuration::MAX, 1.0)]),
                start: SimDuration::ZERO,
                count: huge,
                until: SimDuration::MAX,
            },
            WorkloadConfig::PerMinute {
                counts: vec![u32::MAX; 1440],
                start: SimDuration::ZERO,
            },
        ];
        for cfg in forms {
            let mut a = Arrivals::new(cfg, RngStreams::new(1).stream("workload"));
            for _ in 0..1000 {
                assert!(a.next_invocation().is_some());
            }
            // The state is a few counters (plus the scenario's own lists).
            assert!(a.bursts.list.len() <= 1);
        }
    }

    #[test]
    fn schedules_at_the_end_of_time_never_come() {
        let cfg = WorkloadConfig::Every {
            period: SimDuration::MAX,
            start: SimDuration::ZERO,
            count: 3,
        };
        assert_eq!(secs(&all(cfg, 1)), vec![0]);
        let cfg = WorkloadConfig::WithBursts(
            Box::new(WorkloadConfig::At(Vec::new())),
            vec![Burst {
                at: SimDuration::MAX,
                count: 3,
                window: SimDuration::ZERO,
            }],
        );
        assert!(all(cfg, 1).is_empty());
    }

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
