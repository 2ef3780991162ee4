//! Distributions of durations: a cost that varies in reality (a cold
//! start, a handler's work, a server's service time) drawn once per use.
//!
//! Every sampler is portable: the uniform numbers come from the caller's
//! [`SimRng`](crate::SimRng) stream (ChaCha8, specified bit for bit), the
//! transcendental functions from `libm` (a pure-Rust port of musl's libm,
//! the same bits on every platform, unlike the system's `ln`/`exp`), and
//! the result is rounded to whole nanoseconds. A [`Dist::Fixed`] duration
//! draws nothing, so a stream is consumed only by what actually varies.
//!
//! The formulas (docs/model.md, "Distributions of durations"), with
//! `U = 1 - u` for `u` rand's `f64` in `[0, 1)` (53 random bits), so
//! `U` is in `(0, 1]` and `ln U` is finite:
//! - exponential with mean `m`: `m * -ln(U)` (one draw);
//! - lognormal with median `M` and shape `σ`: `M * exp(σ Z)` with `Z` a
//!   standard normal from Box–Muller, `Z = sqrt(-2 ln U) * cos(2π u2)`
//!   (two draws; the second normal of the pair is not kept);
//! - uniform over `[lo, hi]`: rand's `random_range(lo..=hi)` on the
//!   nanoseconds (integers only; one draw, more in the rare rejection);
//! - empirical: one of the samples, index `random_range(0..n)`.
use crate::SimDuration;
use rand::Rng;
use std::sync::Arc;

/// A duration that is fixed or drawn from a distribution at each use.
#[derive(Clone, Debug)]
pub enum Dist {
    /// Always this duration; draws nothing.
    Fixed(SimDuration),
    /// Exponential with this mean.
    Exponential {
        /// The mean.
        mean: SimDuration,
    },
    /// Lognormal: `median * exp(sigma * Z)`, `Z` standard normal.
    LogNormal {
        /// The median (`exp(μ)` of the underlying normal).
        median: SimDuration,
        /// The underlying normal's standard deviation (finite, > 0).
        sigma: f64,
    },
    /// Uniform over whole nanoseconds from `lo` to `hi`, both included.
    Uniform {
        /// Smallest value.
        lo: SimDuration,
        /// Largest value (`>= lo`).
        hi: SimDuration,
    },
    /// One of these samples, each equally likely (at least one).
    Empirical(Arc<[SimDuration]>),
}

impl PartialEq for Dist {
    fn eq(&self, other: &Self) -> bool {
        use Dist::*;
        match (self, other) {
            (Fixed(a), Fixed(b)) => a == b,
            (Exponential { mean: a }, Exponential { mean: b }) => a == b,
            (
                LogNormal {
                    median: a,
                    sigma: s,
                },
                LogNormal {
                    median: b,
                    sigma: t,
                },
            ) => a == b && s.to_bits() == t.to_bits(),
            (Uniform { lo: a, hi: b }, Uniform { lo: c, hi: d }) => a == c && b == d,
            (Empirical(a), Empirical(b)) => a == b,
            _ => false,
        }
    }
}

/// Sigma is compared by its bits, so equality is reflexive.
impl Eq for Dist {}

impl Default for Dist {
    fn default() -> Self {
        Dist::Fixed(SimDuration::ZERO)
    }
}

impl From<SimDuration> for Dist {
    fn from(d: SimDuration) -> Self {
        Dist::Fixed(d)
    }
}

/// Nanoseconds as a float rounded to the nearest whole one, saturating at
/// [`SimDuration::MAX`] (and 0 for anything not above 0).
fn to_duration(ns: f64) -> SimDuration {
    let r = ns.round();
    if r.is_nan() || r <= 0.0 {
        SimDuration::ZERO
    } else if r >= u64::MAX as f64 {
        SimDuration::MAX
    } else {
        SimDuration::from_nanos(r as u64)
    }
}

impl Dist {
    /// The duration if it is fixed.
    pub fn fixed(&self) -> Option<SimDuration> {
        match self {
            Dist::Fixed(d) => Some(*d),
            _ => None,
        }
    }

    /// True for a fixed zero: nothing to wait for, nothing drawn.
    pub fn is_zero(&self) -> bool {
        self.fixed() == Some(SimDuration::ZERO)
    }

    /// The distribution's mean, rounded to a nanosecond (for reports and
    /// estimates, never drawn): lognormal `M exp(σ²/2)`, uniform
    /// `(lo + hi) / 2`, empirical the samples' mean.
    pub fn mean(&self) -> SimDuration {
        match self {
            Dist::Fixed(d) => *d,
            Dist::Exponential { mean } => *mean,
            Dist::LogNormal { median, sigma } => {
                to_duration(median.as_nanos() as f64 * libm::exp(sigma * sigma / 2.0))
            }
            Dist::Uniform { lo, hi } => SimDuration::from_nanos(
                ((lo.as_nanos() as u128 + hi.as_nanos() as u128) / 2) as u64,
            ),
            Dist::Empirical(v) => {
                let sum: u128 = v.iter().map(|d| d.as_nanos() as u128).sum();
                let n = v.len().max(1) as u128;
                SimDuration::from_nanos((sum / n).min(u64::MAX as u128) as u64)
            }
        }
    }

    /// One draw from `rng` (see the module documentation for each
    /// formula). A fixed duration draws nothing.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match self {
            Dist::Fixed(d) => *d,
            Dist::Exponential { mean } => {
                let u = 1.0 - rng.random::<f64>();
                to_duration(mean.as_nanos() as f64 * -libm::log(u))
            }
            Dist::LogNormal { median, sigma } => {
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let z = libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2);
                to_duration(median.as_nanos() as f64 * libm::exp(sigma * z))
            }
            Dist::Uniform { lo, hi } => {
                let lo = lo.as_nanos();
                let hi = hi.as_nanos().max(lo);
                SimDuration::from_nanos(rng.random_range(lo..=hi))
            }
            Dist::Empirical(v) => match v.len() {
                0 => SimDuration::ZERO,
                1 => v[0],
                n => v[rng.random_range(0..n)],
            },
        }
    }
}

impl Dist {
    /// The smallest value a draw can have: 0 for the exponential and the
    /// lognormal (their draws round to whole nanoseconds).
    pub fn lower_bound(&self) -> SimDuration {
        match self {
            Dist::Fixed(d) => *d,
            Dist::Exponential { .. } | Dist::LogNormal { .. } => SimDuration::ZERO,
            Dist::Uniform { lo, .. } => *lo,
            Dist::Empirical(v) => v.iter().copied().min().unwrap_or(SimDuration::ZERO),
        }
    }
}

impl std::fmt::Display for Dist {
    /// The scenario-file spelling: `250ms`, `exponential(mean 2s)`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dist::Fixed(d) => write!(f, "{d}"),
            Dist::Exponential { mean } => write!(f, "exponential(mean {mean})"),
            Dist::LogNormal { median, sigma } => {
                write!(f, "lognormal(median {median}, sigma {sigma})")
            }
            Dist::Uniform { lo, hi } => write!(f, "uniform({lo}..={hi})"),
            Dist::Empirical(v) => write!(f, "empirical({} samples)", v.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RngStreams;
    use rand_core::RngCore;

    const MS: u64 = 1_000_000;

    #[test]
    fn no_draw_is_below_the_lower_bound() {
        let dists = [
            Dist::Fixed(ms(3)),
            Dist::Exponential { mean: ms(3) },
            Dist::LogNormal {
                median: ms(3),
                sigma: 2.0,
            },
            Dist::Uniform {
                lo: ms(2),
                hi: ms(4),
            },
            Dist::Empirical(vec![ms(5), ms(1), ms(9)].into()),
        ];
        let want = [ms(3), ms(0), ms(0), ms(2), ms(1)];
        let mut rng = RngStreams::new(5).stream("dist-bound");
        for (d, w) in dists.iter().zip(want) {
            assert_eq!(d.lower_bound(), w, "{d}");
            let min = (0..10_000).map(|_| d.sample(&mut rng)).min().unwrap();
            assert!(min >= w, "{d}: {min}");
        }
    }

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    fn mean_of(d: &Dist, n: u64) -> f64 {
        let mut rng = RngStreams::new(3).stream("dist-test");
        (0..n)
            .map(|_| d.sample(&mut rng).as_nanos() as f64)
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn fixed_draws_nothing() {
        let mut a = RngStreams::new(1).stream("x");
        let mut b = RngStreams::new(1).stream("x");
        assert_eq!(Dist::Fixed(ms(5)).sample(&mut a), ms(5));
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn draws_are_pinned() {
        // Exact values for seed 1: a change of formula, of libm or of rand
        // would change traces, and must be deliberate.
        let draws = |d: Dist| {
            let mut rng = RngStreams::new(1).stream("dist-test");
            (0..3)
                .map(|_| d.sample(&mut rng).as_nanos())
                .collect::<Vec<_>>()
        };
        let e = draws(Dist::Exponential { mean: ms(100) });
        let l = draws(Dist::LogNormal {
            median: ms(100),
            sigma: 0.5,
        });
        let u = draws(Dist::Uniform {
            lo: ms(100),
            hi: ms(300),
        });
        let k = draws(Dist::Empirical(vec![ms(1), ms(2), ms(3)].into()));
        assert_eq!(e, PIN_EXP, "exponential draws changed");
        assert_eq!(l, PIN_LOGN, "lognormal draws changed");
        assert_eq!(u, PIN_UNI, "uniform draws changed");
        assert_eq!(k, PIN_EMP, "empirical draws changed");
    }

    const PIN_EXP: [u64; 3] = [230_710_294, 23_630_817, 79_124_339];
    const PIN_LOGN: [u64; 3] = [130_222_758, 107_934_212, 93_933_772];
    const PIN_UNI: [u64; 3] = [280_090_153, 142_092_535, 209_343_832];
    const PIN_EMP: [u64; 3] = [1_000_000, 3_000_000, 3_000_000];

    #[test]
    fn uniform_is_the_reap_draw() {
        // The same call as reap_after_min/max made before distributions
        // existed: existing traces stay byte-identical.
        let (lo, hi) = (60 * 1_000 * MS, 300 * 1_000 * MS);
        let mut a = RngStreams::new(9).stream("platform");
        let mut b = RngStreams::new(9).stream("platform");
        for _ in 0..100 {
            let d = Dist::Uniform {
                lo: SimDuration::from_nanos(lo),
                hi: SimDuration::from_nanos(hi),
            }
            .sample(&mut a);
            assert_eq!(d.as_nanos(), b.random_range(lo..=hi));
        }
    }

    #[test]
    fn means_are_close() {
        let n = 200_000;
        let within = |got: f64, want: f64, tol: f64| {
            assert!(
                (got - want).abs() <= want * tol,
                "mean {got} not within {tol} of {want}"
            )
        };
        within(
            mean_of(&Dist::Exponential { mean: ms(200) }, n),
            200.0 * MS as f64,
            0.01,
        );
        let l = Dist::LogNormal {
            median: ms(250),
            sigma: 0.5,
        };
        within(mean_of(&l, n), l.mean().as_nanos() as f64, 0.01);
        within(
            l.mean().as_nanos() as f64,
            250.0 * MS as f64 * 1.133_148_453,
            1e-6,
        );
        within(
            mean_of(
                &Dist::Uniform {
                    lo: ms(100),
                    hi: ms(300),
                },
                n,
            ),
            200.0 * MS as f64,
            0.01,
        );
        within(
            mean_of(&Dist::Empirical(vec![ms(1), ms(2), ms(6)].into()), n),
            3.0 * MS as f64,
            0.01,
        );
    }

    #[test]
    fn lognormal_median_is_the_median() {
        let d = Dist::LogNormal {
            median: ms(250),
            sigma: 1.0,
        };
        let mut rng = RngStreams::new(5).stream("dist-test");
        let n = 100_001;
        let mut v: Vec<u64> = (0..n).map(|_| d.sample(&mut rng).as_nanos()).collect();
        v.sort_unstable();
        let med = v[n / 2] as f64;
        assert!(
            (med - 250.0 * MS as f64).abs() < 0.02 * 250.0 * MS as f64,
            "{med}"
        );
    }

    #[test]
    fn uniform_bounds_are_inclusive() {
        let d = Dist::Uniform {
            lo: SimDuration::from_nanos(7),
            hi: SimDuration::from_nanos(9),
        };
        let mut rng = RngStreams::new(1).stream("dist-test");
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let x = d.sample(&mut rng).as_nanos();
            assert!((7..=9).contains(&x));
            seen[(x - 7) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn draws_are_deterministic_and_saturate() {
        let d = Dist::LogNormal {
            median: SimDuration::MAX,
            sigma: 3.0,
        };
        let mut a = RngStreams::new(2).stream("s");
        let mut b = RngStreams::new(2).stream("s");
        for _ in 0..1000 {
            let x = d.sample(&mut a);
            assert_eq!(x, d.sample(&mut b));
        }
        let e = Dist::Exponential {
            mean: SimDuration::MAX,
        };
        for _ in 0..1000 {
            let _ = e.sample(&mut a);
        }
    }
}
