//! Fixed-size history: one ring of round timestamps shared by every
//! element, and per element one `f32` ring per metric, aligned with it by
//! round number. Memory is fixed when an element first appears and never
//! grows: `capacity × metrics × 4` bytes per element, timestamps once.

use std::collections::HashMap;

use serde::Serialize;

/// The metrics each element keeps, in this order.
pub const METRICS: usize = 2;
/// Index of CPU % in a sample.
pub const CPU: usize = 0;
/// Index of memory % in a sample.
pub const MEMORY: usize = 1;

/// One element's values at one round: `NaN` where it was not measured.
pub type Sample = [f32; METRICS];

/// A stretch of one element's history, oldest first (`None` where it was
/// not measured), as the API answers it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesView {
    /// Round times, Unix milliseconds.
    pub t: Vec<u64>,
    /// Percent of the element's CPUs busy.
    pub cpu_pct: Vec<Option<f32>>,
    /// Percent of the element's memory in use.
    pub memory_pct: Vec<Option<f32>>,
}

/// One element's rings.
struct Series {
    values: Box<[Sample]>,
    /// The last round it had a sample in.
    last: u64,
}

/// Rounds and the series of every element seen in the last `capacity`
/// rounds (elements without a sample in that window are dropped).
pub struct Rings {
    times: Box<[u64]>,
    /// Rounds written so far; round `r` sits at `r % capacity`.
    rounds: u64,
    series: HashMap<String, Series>,
    /// No more elements than this (new ones are not tracked beyond it).
    max_elements: usize,
}

impl Rings {
    /// Room for `capacity` rounds (at least 2) of at most `max_elements`
    /// elements.
    pub fn new(capacity: usize, max_elements: usize) -> Rings {
        Rings {
            times: vec![0; capacity.max(2)].into_boxed_slice(),
            rounds: 0,
            series: HashMap::new(),
            max_elements,
        }
    }

    pub fn capacity(&self) -> usize {
        self.times.len()
    }

    fn slot(&self, round: u64) -> usize {
        (round % self.times.len() as u64) as usize
    }

    /// The oldest round still held.
    fn first(&self) -> u64 {
        self.rounds.saturating_sub(self.times.len() as u64)
    }

    /// Writes one round at time `at` (Unix ms) with these samples; the
    /// elements not named have no value in it. Returns how many samples
    /// were refused because the element limit was reached.
    pub fn push<'a>(
        &mut self,
        at: u64,
        samples: impl IntoIterator<Item = (&'a str, Sample)>,
    ) -> usize {
        let round = self.rounds;
        let slot = self.slot(round);
        let cap = self.times.len();
        self.times[slot] = at;
        // The slot being reused held the oldest round: clear it for all.
        for s in self.series.values_mut() {
            s.values[slot] = [f32::NAN; METRICS];
        }
        let mut refused = 0;
        for (name, sample) in samples {
            let series = match self.series.get_mut(name) {
                Some(s) => s,
                None => {
                    if self.series.len() >= self.max_elements {
                        refused += 1;
                        continue;
                    }
                    self.series.entry(name.to_string()).or_insert(Series {
                        values: vec![[f32::NAN; METRICS]; cap].into_boxed_slice(),
                        last: round,
                    })
                }
            };
            series.values[slot] = sample;
            series.last = round;
        }
        self.rounds += 1;
        let first = self.first();
        self.series.retain(|_, s| s.last >= first);
        refused
    }

    /// `name`'s values after `since` (Unix ms), oldest first; `None` when
    /// it has no sample in the window.
    pub fn view(&self, name: &str, since: u64) -> Option<SeriesView> {
        let s = self.series.get(name)?;
        let mut v = SeriesView::default();
        for round in self.first()..self.rounds {
            let slot = self.slot(round);
            let at = self.times[slot];
            if at <= since {
                continue;
            }
            let opt = |x: f32| (!x.is_nan()).then_some(x);
            v.t.push(at);
            v.cpu_pct.push(opt(s.values[slot][CPU]));
            v.memory_pct.push(opt(s.values[slot][MEMORY]));
        }
        Some(v)
    }

    /// Every element's newest sample of the newest round, by name.
    pub fn latest(&self) -> impl Iterator<Item = (&str, Sample)> {
        let newest = self.rounds.checked_sub(1);
        let slot = newest.map(|r| self.slot(r)).unwrap_or(0);
        self.series
            .iter()
            .filter(move |(_, s)| Some(s.last) == newest)
            .map(move |(n, s)| (n.as_str(), s.values[slot]))
    }

    /// Time of the newest round.
    pub fn newest_time(&self) -> Option<u64> {
        self.rounds.checked_sub(1).map(|r| self.times[self.slot(r)])
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Heap bytes held (values, timestamps, names, map entries): what the
    /// bound in the module docs counts.
    pub fn heap_bytes(&self) -> usize {
        let per_series = self.times.len() * std::mem::size_of::<Sample>();
        let entry = std::mem::size_of::<(String, Series)>() + 1; // + hashbrown's control byte
        self.times.len() * 8
            + self.series.capacity() * entry
            + self
                .series
                .keys()
                .map(|k| k.capacity() + per_series)
                .sum::<usize>()
    }

    /// What [`Rings::heap_bytes`] comes to for `elements` elements with
    /// names of `name_len` bytes, without allocating them.
    pub fn bytes_for(capacity: usize, elements: usize, name_len: usize) -> usize {
        let entry = std::mem::size_of::<(String, Series)>() + 1;
        // A HashMap keeps its load factor at most 7/8, rounded to a power of two.
        let buckets = (elements * 8 / 7).next_power_of_two();
        capacity * 8
            + buckets * entry
            + elements * (name_len + capacity * std::mem::size_of::<Sample>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cpu: f32, mem: f32) -> Sample {
        [cpu, mem]
    }

    #[test]
    fn a_view_is_oldest_first_with_gaps_where_nothing_was_measured() {
        let mut r = Rings::new(4, 10);
        r.push(1000, [("a", s(10.0, 50.0)), ("b", s(1.0, 2.0))]);
        r.push(2000, [("b", s(3.0, 4.0))]);
        r.push(3000, [("a", s(30.0, f32::NAN))]);
        let a = r.view("a", 0).unwrap();
        assert_eq!(a.t, vec![1000, 2000, 3000]);
        assert_eq!(a.cpu_pct, vec![Some(10.0), None, Some(30.0)]);
        assert_eq!(a.memory_pct, vec![Some(50.0), None, None]);
        let since = r.view("a", 1000).unwrap();
        assert_eq!(since.t, vec![2000, 3000], "since is exclusive");
        assert!(r.view("nobody", 0).is_none());
        assert_eq!(r.newest_time(), Some(3000));
        let latest: HashMap<_, _> = r.latest().collect();
        assert_eq!(latest.len(), 1, "only a was measured in the newest round");
        assert_eq!(latest["a"][CPU], 30.0);
    }

    #[test]
    fn the_ring_keeps_the_newest_capacity_rounds_and_forgets_silent_elements() {
        let mut r = Rings::new(3, 10);
        for i in 0..10u64 {
            let mut v = vec![("steady", s(i as f32, 0.0))];
            if i == 0 {
                v.push(("gone", s(1.0, 1.0)));
            }
            r.push(i * 1000, v);
            if i == 2 {
                assert!(r.view("gone", 0).is_some(), "still inside the window");
            }
        }
        let v = r.view("steady", 0).unwrap();
        assert_eq!(v.t, vec![7000, 8000, 9000]);
        assert_eq!(v.cpu_pct, vec![Some(7.0), Some(8.0), Some(9.0)]);
        assert!(r.view("gone", 0).is_none(), "no sample for a whole window");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_reused_slot_does_not_show_an_old_value() {
        let mut r = Rings::new(2, 10);
        r.push(1, [("a", s(1.0, 1.0))]);
        r.push(2, [("a", s(2.0, 2.0))]);
        // Round 3 reuses round 1's slot; `a` is not measured in it.
        r.push(3, [("b", s(0.0, 0.0))]);
        let v = r.view("a", 0).unwrap();
        assert_eq!(v.t, vec![2, 3]);
        assert_eq!(v.cpu_pct, vec![Some(2.0), None]);
    }

    #[test]
    fn elements_beyond_the_limit_are_refused_not_stored() {
        let mut r = Rings::new(4, 2);
        let refused = r.push(
            1,
            [("a", s(1.0, 1.0)), ("b", s(1.0, 1.0)), ("c", s(1.0, 1.0))],
        );
        assert_eq!(refused, 1);
        assert_eq!(r.len(), 2);
        assert!(r.view("c", 0).is_none());
    }

    #[test]
    fn memory_is_fixed_per_element_and_counted() {
        let mut r = Rings::new(120, 100_000);
        let names: Vec<String> = (0..2000).map(|i| format!("host-{i:04}-vm{i:03}")).collect();
        for round in 0..300u64 {
            r.push(round, names.iter().map(|n| (n.as_str(), s(1.0, 2.0))));
        }
        let held = r.heap_bytes();
        let predicted = Rings::bytes_for(120, 2000, names[0].len());
        assert!(
            held <= predicted * 11 / 10 && predicted <= held * 11 / 10,
            "held {held}, predicted {predicted}"
        );
        // 300 rounds wrote no more than 120 rounds' worth.
        assert!(held < 2000 * (120 * 8 + 200), "{held}");
    }
}
