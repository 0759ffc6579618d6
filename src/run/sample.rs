//! Surprise-inspection sampling: reproducible from a seed (ChaCha8, stable across machines and
//! releases of `rand`), recorded with the run so the same draw can be made again.

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// A fresh seed when the user gave none (recorded with the run).
pub fn draw_seed() -> u64 {
    rand::random()
}

/// Choose `n` items (all when `n` is `None` or ≥ len), in a stable order: the input is sorted
/// first so the draw depends only on the set and the seed.
pub fn sample<T: Clone + Ord>(items: &[T], n: Option<usize>, seed: u64) -> Vec<T> {
    let mut sorted = items.to_vec();
    sorted.sort();
    sorted.dedup();
    let Some(n) = n.filter(|n| *n < sorted.len()) else {
        return sorted;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen: Vec<T> = sorted.choose_multiple(&mut rng, n).cloned().collect();
    chosen.sort();
    chosen
}

/// Derive a per-agency seed so each agency's service draw is independent of the others'.
pub fn sub_seed(seed: u64, key: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{seed}/{key}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sample_regardless_of_input_order() {
        let a: Vec<String> = (0..30).map(|i| format!("agency-{i}")).collect();
        let mut b = a.clone();
        b.reverse();
        let s1 = sample(&a, Some(5), 42);
        assert_eq!(s1.len(), 5);
        assert_eq!(s1, sample(&b, Some(5), 42));
        assert_ne!(s1, sample(&a, Some(5), 43));
        assert_eq!(sample(&a, None, 1).len(), 30);
        assert_eq!(sample(&a, Some(100), 1).len(), 30);
    }

    #[test]
    fn fixed_draw_is_stable_across_machines() {
        // Guards against an accidental change of RNG or algorithm: a recorded seed must
        // reproduce the recorded sample forever.
        let a: Vec<u32> = (0..10).collect();
        assert_eq!(sample(&a, Some(3), 7), SAMPLE_7);
        assert_ne!(sub_seed(7, "bca"), sub_seed(7, "hanoi"));
    }

    const SAMPLE_7: [u32; 3] = [1, 8, 9];
}
