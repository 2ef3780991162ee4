//! Time bins for the overview of a run of any length: a fixed number of
//! bins starting at 1 µs wide; when the run outgrows them, neighbours are
//! merged and the width doubles. Memory is constant, and the same run
//! gives the same bins.
use std::collections::BTreeMap;

/// Number of bins.
pub(crate) const NBINS: usize = 512;

/// What happened within one bin.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bin {
    /// Environments in each state (init, busy, idle, frozen) integrated
    /// over time: count × ns.
    pub env_area: [u128; 4],
    /// Per holder (server, then proxy): most connections held at once.
    pub held_max: Vec<u64>,
    /// Per holder: most zombie connections (client frozen or reaped).
    pub zombie_max: Vec<u64>,
    /// Records in the bin (an empty bin is a quiet stretch).
    pub activity: u64,
    /// Arrivals.
    pub invocations: u64,
    /// Cold starts.
    pub cold: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

impl Bin {
    fn merge(mut self, o: &Bin) -> Bin {
        for i in 0..4 {
            self.env_area[i] += o.env_area[i];
        }
        for (a, b) in self.held_max.iter_mut().zip(&o.held_max) {
            *a = (*a).max(*b);
        }
        for (a, b) in self.zombie_max.iter_mut().zip(&o.zombie_max) {
            *a = (*a).max(*b);
        }
        self.activity += o.activity;
        self.invocations += o.invocations;
        self.cold += o.cold;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self
    }
}

/// The bins and the gauges' current values.
#[derive(Debug)]
pub(crate) struct Bins {
    /// Width of a bin in ns.
    pub width: u64,
    pub bins: Vec<Bin>,
    /// Gauges are integrated up to this time.
    last: u64,
    env_now: [u64; 4],
    held_now: Vec<(u64, u64)>,
    holders: usize,
}

impl Bins {
    pub(crate) fn new(_env_states: usize, holders: usize) -> Self {
        Bins {
            width: 1_000,
            bins: (0..NBINS).map(|_| Self::empty(holders)).collect(),
            last: 0,
            env_now: [0; 4],
            held_now: vec![(0, 0); holders],
            holders,
        }
    }

    fn empty(holders: usize) -> Bin {
        Bin {
            held_max: vec![0; holders],
            zombie_max: vec![0; holders],
            ..Bin::default()
        }
    }

    fn index(&self, t: u64) -> usize {
        ((t / self.width) as usize).min(NBINS - 1)
    }

    fn cover(&mut self, t: u64) {
        while t / self.width >= NBINS as u64 {
            let old = std::mem::take(&mut self.bins);
            let mut merged: Vec<Bin> = old.chunks(2).map(|p| p[0].clone().merge(&p[1])).collect();
            merged.resize_with(NBINS, || Self::empty(self.holders));
            self.bins = merged;
            self.width = self.width.saturating_mul(2);
        }
    }

    /// Integrates the gauges up to `t` (times never decrease).
    pub(crate) fn advance(&mut self, t: u64) {
        if t < self.last {
            return;
        }
        self.cover(t);
        let (b0, b1) = (self.index(self.last), self.index(t));
        for b in b0..=b1 {
            let lo = (b as u64 * self.width).max(self.last);
            let hi = ((b as u64 + 1) * self.width).min(t);
            let dt = u128::from(hi.saturating_sub(lo));
            let bin = &mut self.bins[b];
            for i in 0..4 {
                bin.env_area[i] += u128::from(self.env_now[i]) * dt;
            }
            for (h, (held, zombie)) in self.held_now.iter().enumerate() {
                bin.held_max[h] = bin.held_max[h].max(*held);
                bin.zombie_max[h] = bin.zombie_max[h].max(*zombie);
            }
        }
        self.last = t;
    }

    /// Environments in state `i` now.
    pub(crate) fn set_env(&mut self, i: usize, v: u64) {
        self.env_now[i] = v;
    }

    /// Connections held by holder `h` now.
    pub(crate) fn set_held(&mut self, h: usize, held: u64, zombie: u64) {
        self.held_now[h] = (held, zombie);
        let b = self.index(self.last);
        let bin = &mut self.bins[b];
        bin.held_max[h] = bin.held_max[h].max(held);
        bin.zombie_max[h] = bin.zombie_max[h].max(zombie);
    }

    pub(crate) fn activity(&mut self, t: u64) {
        let b = self.index(t);
        self.bins[b].activity += 1;
    }

    pub(crate) fn invocation(&mut self, t: u64, cold: bool) {
        let b = self.index(t);
        self.bins[b].invocations += 1;
        if cold {
            self.bins[b].cold += 1;
        }
    }

    pub(crate) fn error(&mut self, t: u64, kind: &str) {
        let b = self.index(t);
        *self.bins[b].errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Bins up to and including the one holding `end`.
    pub(crate) fn used(&self, end: u64) -> usize {
        self.index(end) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_double_and_areas_add_up() {
        let mut b = Bins::new(4, 1);
        b.advance(0);
        b.set_env(1, 2);
        b.advance(10_000_000_000); // 10 s: many doublings
        assert!(b.width >= 10_000_000_000 / NBINS as u64);
        let total: u128 = b.bins.iter().map(|x| x.env_area[1]).sum();
        assert_eq!(total, 2 * 10_000_000_000);
    }
}
