//! One stable sort for the whole library.
//!
//! `slice::sort_by` stamps out the standard library's whole driftsort (≈ 7.5 KB of
//! machine code) for every element type and comparator it meets: 46 copies, 0.35 MB
//! of the shipped library (docs/benchmarks.md, "Library size"). Here the sorting
//! itself is instantiated once, on indices with a `dyn` comparator; each call site
//! adds only a small permutation. The result is exactly that of `sort_by`: stable,
//! so equal elements keep their order.
//!
//! The indirect call costs a few nanoseconds per comparison; the lists sorted here
//! (a patient's events, a caseload) are small enough that it does not show.

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, like `slice::sort_by`.
pub(crate) fn sort_by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = stable_order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    permute(v, order);
}

/// Sorts `v` stably by `key`, like `slice::sort_by_key`.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` stably in ascending order, like `slice::sort`.
pub(crate) fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The positions of `0..n` in sorted order: the one place that sorts.
fn stable_order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    #[allow(
        clippy::disallowed_methods,
        reason = "the one instantiation the others share"
    )]
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Moves `v[order[i]]` to position `i` for every `i`, in place, one cycle at a time.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        let mut at = start;
        // A settled position points at itself; a cycle ends where it began.
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the test needs no dependency.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn matches_the_standard_stable_sort_on_random_lists_with_ties() {
        let mut seed = 7;
        for len in 0..200 {
            // (key, original position): ties on key show whether order is kept.
            let list: Vec<(u64, usize)> = (0..len).map(|i| (lcg(&mut seed) % 5, i)).collect();
            let mut ours = list.clone();
            let mut std_sorted = list.clone();
            sort_by_key(&mut ours, |e| e.0);
            #[allow(clippy::disallowed_methods, reason = "the reference result")]
            std_sorted.sort_by_key(|e| e.0);
            assert_eq!(ours, std_sorted, "length {len}");
        }
    }

    #[test]
    fn sorts_by_comparator_descending_and_plainly() {
        let mut v = vec!["b", "a", "c", "a"];
        sort(&mut v);
        assert_eq!(v, ["a", "a", "b", "c"]);
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["c", "b", "a", "a"]);
    }

    #[test]
    fn moves_elements_that_cannot_be_copied() {
        let mut v: Vec<String> = ["d", "b", "a", "c", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort(&mut v);
        assert_eq!(v, ["a", "b", "c", "d", "e"]);
    }
}
