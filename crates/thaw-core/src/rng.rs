//! One named portable RNG, with an independent stream per component.
//!
//! Streams are ChaCha8 seeded from `(seed, component name)`, so adding a new
//! component, or drawing more numbers in one, never shifts another's stream.
//! ChaCha8's output is specified bit for bit, so runs are portable across
//! platforms and Rust versions.
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// The generator every model draws from.
pub type SimRng = ChaCha8Rng;

/// Derives per-component RNG streams from one run seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStreams {
    seed: u64,
}

impl RngStreams {
    /// Streams for the run with this seed.
    pub fn new(seed: u64) -> Self {
        RngStreams { seed }
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream of component `name` (e.g. `"workload"`, `"platform"`).
    pub fn stream(&self, name: &str) -> SimRng {
        // FNV-1a over the name, mixed with the seed by SplitMix64: fixed,
        // documented functions, unlike std's randomly keyed hashers.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut state = self.seed ^ h.rotate_left(17);
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        ChaCha8Rng::from_seed(key)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    #[test]
    fn streams_are_stable_and_independent() {
        let s = RngStreams::new(42);
        let a1 = s.stream("workload").next_u64();
        let a2 = s.stream("workload").next_u64();
        let b = s.stream("platform").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, RngStreams::new(43).stream("workload").next_u64());
    }

    #[test]
    fn stream_values_are_pinned() {
        // Pinned so that a change of generator or derivation is noticed:
        // it would change every trace of every seeded scenario.
        let v = RngStreams::new(1).stream("workload").next_u64();
        assert_eq!(v, RngStreams::new(1).stream("workload").next_u64());
        let pinned = PINNED;
        assert_eq!(
            v, pinned,
            "RNG derivation changed: update PINNED deliberately"
        );
    }

    const PINNED: u64 = 17_915_053_463_749_299_048;
}
