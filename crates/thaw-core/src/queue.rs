//! The event queue: a min-heap keyed by `(time, insertion sequence)`.
//!
//! Two events scheduled for the same instant are popped in the order they
//! were pushed. This is the whole tie-breaking rule, and models rely on it.
//!
//! An event scheduled at [`SimTime::MAX`], the end of time (see
//! [`crate::time`]), is never due: it is not stored, only counted
//! ([`EventQueue::events_beyond_end`]). So a run whose remaining events all
//! lie beyond the end finishes normally, and `now` is always before `MAX`.
use crate::time::{SimDuration, SimTime};
use std::cmp::{Ordering, Reverse};
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};

struct Entry<E> {
    at: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A run stopped because it processed more events than its budget allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// The budget that was exhausted.
    pub budget: u64,
    /// Simulated time when the run was stopped.
    pub at: SimTime,
}

/// Pending events, ordered by `(time, seq)`, with the current time and an
/// event budget that turns a runaway model into an error instead of a hang.
///
/// Besides the heap, the queue keeps FIFO *lanes* keyed by delay: events
/// scheduled with the same delay (a TIME_WAIT, a function timeout, a link's
/// latency) are pushed in time order, so a FIFO holds them at O(1), and a
/// small heap of lane heads finds the earliest. Lanes are only a speed-up:
/// pop returns the smallest `(time, seq)` over the heap and every lane,
/// exactly as with the heap alone.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    /// Events scheduled for `now` itself (delay zero, with lanes on): a
    /// FIFO that needs no heap, since they come after everything already
    /// pending at `now` and before everything later.
    now_lane: VecDeque<Entry<E>>,
    lanes: Vec<(SimDuration, VecDeque<Entry<E>>)>,
    heads: BinaryHeap<Reverse<(SimTime, u64, usize)>>,
    /// Open-addressing index from a delay to its lane (lane + 1; 0 = free).
    lane_index: [u8; LANE_INDEX],
    max_lanes: usize,
    seq: u64,
    now: SimTime,
    popped: u64,
    budget: u64,
    /// Events scheduled at `SimTime::MAX` and therefore dropped.
    beyond_end: u64,
}

/// A sequence number taken by [`EventQueue::reserve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reserved(u64);

#[derive(Clone, Copy)]
enum Src {
    Now,
    Heap,
    Lane(usize),
}

const LANE_INDEX: usize = 128;
/// Most lanes a queue can have (the index must stay sparse).
pub const MAX_LANES: usize = 64;

fn lane_slot(delay: SimDuration) -> usize {
    // Fibonacci hashing of the nanoseconds: fixed, portable.
    (delay.as_nanos().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57) as usize
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero that allows `budget` events to be popped.
    pub fn new(budget: u64) -> Self {
        Self::with_lanes(budget, 0)
    }

    /// Like [`EventQueue::new`], with up to `max_lanes` delay lanes for
    /// [`EventQueue::push_after`].
    pub fn with_lanes(budget: u64, max_lanes: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            now_lane: VecDeque::new(),
            lanes: Vec::new(),
            heads: BinaryHeap::new(),
            lane_index: [0; LANE_INDEX],
            max_lanes: max_lanes.min(MAX_LANES),
            seq: 0,
            now: SimTime::ZERO,
            popped: 0,
            budget,
            beyond_end: 0,
        }
    }

    /// The time of the event being processed (or of the last one).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of events popped so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    /// Number of events scheduled at [`SimTime::MAX`] (directly or by a
    /// delay that saturated there): never due, so never stored.
    pub fn events_beyond_end(&self) -> u64 {
        self.beyond_end
    }

    /// Number of events still pending.
    pub fn len(&self) -> usize {
        self.heap.len()
            + self.now_lane.len()
            + self.lanes.iter().map(|(_, l)| l.len()).sum::<usize>()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `event` at `at`. Scheduling in the past is a model bug.
    /// At [`SimTime::MAX`] the event is never due and is dropped (counted
    /// in [`EventQueue::events_beyond_end`]).
    pub fn push(&mut self, at: SimTime, event: E) {
        if self.drop_if_beyond_end(at) {
            return;
        }
        let entry = self.entry(at, event);
        self.heap.push(entry);
    }

    /// Schedules `event` after `delay` from now, in the lane of that delay
    /// when there is one (or room for one). Ordering is the same as `push`.
    /// Lanes are assigned to the first delays seen and kept: use `push` for
    /// events whose delays are all different. A delay that reaches
    /// [`SimTime::MAX`] (the sum saturates) drops the event, as `push` does.
    pub fn push_after(&mut self, delay: SimDuration, event: E) {
        let at = self.now.saturating_add(delay);
        if self.drop_if_beyond_end(at) {
            return;
        }
        let entry = self.entry(at, event);
        if delay.is_zero() && self.max_lanes > 0 {
            self.now_lane.push_back(entry);
            return;
        }
        let idx = self.lane_for(delay);
        match idx {
            // `now` never decreases, so one delay's events are in order.
            Some(i) if self.lanes[i].1.back().is_none_or(|b| b.at <= entry.at) => {
                if self.lanes[i].1.is_empty() {
                    self.heads.push(Reverse((entry.at, entry.seq, i)));
                }
                self.lanes[i].1.push_back(entry);
            }
            _ => self.heap.push(entry),
        }
    }

    /// Schedules `event` at `at` in a lane of its own for a stream of
    /// events whose times never decrease (one arrival at a time, each
    /// scheduled by the one before): a FIFO instead of the heap. Ordering
    /// is the same as `push`; an out-of-order time falls back to the heap.
    pub fn push_monotone(&mut self, at: SimTime, event: E) {
        if self.drop_if_beyond_end(at) {
            return;
        }
        let entry = self.entry(at, event);
        // No `push_after` delay reaches `SimDuration::MAX` (its events are
        // beyond the end and dropped), so that key names this lane.
        match self.lane_for(SimDuration::MAX) {
            Some(i) if self.lanes[i].1.back().is_none_or(|b| b.at <= entry.at) => {
                if self.lanes[i].1.is_empty() {
                    self.heads.push(Reverse((entry.at, entry.seq, i)));
                }
                self.lanes[i].1.push_back(entry);
            }
            _ => self.heap.push(entry),
        }
    }

    /// The lane of `delay`, creating it while there is room.
    fn lane_for(&mut self, delay: SimDuration) -> Option<usize> {
        let mut slot = lane_slot(delay);
        loop {
            match self.lane_index[slot] {
                0 => {
                    if self.lanes.len() >= self.max_lanes {
                        return None;
                    }
                    self.lanes.push((delay, VecDeque::new()));
                    self.lane_index[slot] = self.lanes.len() as u8;
                    return Some(self.lanes.len() - 1);
                }
                l if self.lanes[l as usize - 1].0 == delay => return Some(l as usize - 1),
                _ => slot = (slot + 1) % LANE_INDEX,
            }
        }
    }

    /// Takes the sequence number that an event pushed now would get,
    /// without pushing one. [`EventQueue::push_reserved`] later schedules
    /// an event with it: it then pops exactly where an event pushed now
    /// would have, so a model can delay deciding whether a timer is
    /// needed at all without changing the order of anything.
    pub fn reserve(&mut self) -> Reserved {
        self.seq += 1;
        Reserved(self.seq)
    }

    /// Schedules `event` at `at` with the sequence number `r` reserved
    /// earlier (each reservation is used at most once; `at` must not be in
    /// the past). At [`SimTime::MAX`] it is dropped, as `push` does.
    pub fn push_reserved(&mut self, at: SimTime, r: Reserved, event: E) {
        if self.drop_if_beyond_end(at) {
            return;
        }
        assert!(
            at >= self.now,
            "event scheduled in the past: {at} < now {}",
            self.now
        );
        self.heap.push(Entry {
            at,
            seq: r.0,
            event,
        });
    }

    /// True (and counted) when `at` is the end of time: never due.
    fn drop_if_beyond_end(&mut self, at: SimTime) -> bool {
        if at == SimTime::MAX {
            self.beyond_end += 1;
            true
        } else {
            false
        }
    }

    fn entry(&mut self, at: SimTime, event: E) -> Entry<E> {
        assert!(
            at >= self.now,
            "event scheduled in the past: {at} < now {}",
            self.now
        );
        self.seq += 1;
        Entry {
            at,
            seq: self.seq,
            event,
        }
    }

    /// Where the next event is.
    fn next_source(&self) -> Option<Src> {
        let heap = self.heap.peek().map(|e| (e.at, e.seq));
        let lane = self
            .heads
            .peek()
            .map(|Reverse((at, seq, i))| ((*at, *seq), *i));
        let other = match (heap, lane) {
            (None, None) => None,
            (Some(h), None) => Some((h, Src::Heap)),
            (None, Some((l, i))) => Some((l, Src::Lane(i))),
            (Some(h), Some((l, i))) => Some(if l < h {
                (l, Src::Lane(i))
            } else {
                (h, Src::Heap)
            }),
        };
        match (self.now_lane.front(), other) {
            (Some(n), Some((k, src))) if k < (n.at, n.seq) => Some(src),
            (Some(_), _) => Some(Src::Now),
            (None, o) => o.map(|(_, src)| src),
        }
    }

    /// Moves `now` forward to `t` without an event: a driver that runs
    /// code between events (thaw-harness) acts at `t`. `t` must not be
    /// before `now` nor after the next pending event.
    pub fn advance_to(&mut self, t: SimTime) {
        assert!(t >= self.now, "time went backwards");
        debug_assert!(
            self.peek_time().is_none_or(|p| t <= p),
            "advanced past a pending event"
        );
        self.now = t;
    }

    /// Time of the next pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        match self.next_source()? {
            Src::Now => self.now_lane.front().map(|e| e.at),
            Src::Heap => self.heap.peek().map(|e| e.at),
            Src::Lane(i) => self.lanes[i].1.front().map(|e| e.at),
        }
    }

    /// Pops the next event, advancing `now`. Errs once the budget is spent.
    pub fn pop(&mut self) -> Result<Option<(SimTime, E)>, BudgetExceeded> {
        let Some(src) = self.next_source() else {
            return Ok(None);
        };
        if self.popped >= self.budget {
            let at = self.peek_time().expect("an event is pending");
            return Err(BudgetExceeded {
                budget: self.budget,
                at,
            });
        }
        let entry = match src {
            Src::Now => self.now_lane.pop_front().expect("now lane has an event"),
            Src::Heap => self.heap.pop().expect("heap has an event"),
            Src::Lane(i) => {
                let lane = &mut self.lanes[i].1;
                let e = lane.pop_front().expect("lane has an event");
                let mut head = self.heads.peek_mut().expect("lane i is the head");
                match lane.front() {
                    // Replace the head in place: one sift instead of two.
                    Some(next) => *head = Reverse((next.at, next.seq, i)),
                    None => {
                        PeekMut::pop(head);
                    }
                }
                e
            }
        };
        debug_assert!(entry.at >= self.now, "time went backwards");
        self.now = entry.at;
        self.popped += 1;
        Ok(Some((entry.at, entry.event)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::new(100);
        q.push(SimTime::from_secs(5), "b1");
        q.push(SimTime::from_secs(1), "a");
        q.push(SimTime::from_secs(5), "b2");
        q.push(SimTime::from_secs(5), "b3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().unwrap().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["a", "b1", "b2", "b3"]);
    }

    #[test]
    fn budget_stops_the_run() {
        let mut q = EventQueue::new(2);
        for i in 0..5 {
            q.push(SimTime::from_secs(i), i);
        }
        assert!(q.pop().unwrap().is_some());
        assert!(q.pop().unwrap().is_some());
        let err = q.pop().unwrap_err();
        assert_eq!(err.budget, 2);
        assert_eq!(err.at, SimTime::from_secs(2));
    }

    #[test]
    fn lanes_keep_the_global_order() {
        // The same schedule through the heap alone and through delay lanes
        // (more delays than lanes, so some fall back to the heap) pops alike.
        let mut a = EventQueue::new(1000);
        let mut b = EventQueue::with_lanes(1000, 3);
        let delays = [5u64, 5, 7, 6, 1, 5, 0, 7, 2, 9, 3, 5];
        let mut n = 0;
        for round in 0..4 {
            for d in delays {
                let d = SimDuration::from_secs(d + round % 2);
                a.push(a.now() + d, n);
                b.push_after(d, n);
                n += 1;
            }
            // Advance both by one pop so `now` moves between rounds.
            assert_eq!(a.pop().unwrap(), b.pop().unwrap());
        }
        assert_eq!(a.len(), b.len());
        let pa: Vec<_> = std::iter::from_fn(|| a.pop().unwrap()).collect();
        let pb: Vec<_> = std::iter::from_fn(|| b.pop().unwrap()).collect();
        assert_eq!(pa, pb);
        assert!(b.is_empty());
    }

    #[test]
    fn lanes_match_the_heap_on_a_long_random_schedule() {
        // Many delays (some lanes, some overflow to the heap), equal times,
        // direct pushes, and pops interleaved: lanes plus the heap of lane
        // heads must pop exactly what the heap alone pops.
        for max_lanes in [1, 2, 5, 32, MAX_LANES] {
            let mut a = EventQueue::new(u64::MAX);
            let mut b = EventQueue::with_lanes(u64::MAX, max_lanes);
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = move || {
                // xorshift64: fixed, portable.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            // Sequence numbers reserved and not yet used, in both queues.
            let mut reserved = Vec::new();
            for n in 0..20_000u32 {
                let r = next();
                match r % 11 {
                    0..=4 => {
                        let d = SimDuration::from_nanos((r >> 8) % 40 * 1000);
                        a.push(a.now() + d, n);
                        b.push_after(d, n);
                    }
                    5 => {
                        let t = a.now() + SimDuration::from_nanos((r >> 8) % 50_000);
                        a.push(t, n);
                        if r & 0x100_0000 == 0 {
                            b.push(t, n);
                        } else {
                            // Not always monotone: the fallback is tested too.
                            b.push_monotone(t, n);
                        }
                    }
                    6 => {
                        // Zero delay: the now lane.
                        a.push(a.now(), n);
                        b.push_after(SimDuration::ZERO, n);
                    }
                    7 => reserved.push((a.reserve(), b.reserve())),
                    8 if !reserved.is_empty() => {
                        let (ra, rb) = reserved.swap_remove((r >> 8) as usize % reserved.len());
                        let t = a.now() + SimDuration::from_nanos((r >> 16) % 3 * 1000);
                        a.push_reserved(t, ra, n);
                        b.push_reserved(t, rb, n);
                    }
                    _ => assert_eq!(a.pop().unwrap(), b.pop().unwrap()),
                }
                assert_eq!(a.peek_time(), b.peek_time());
                assert_eq!(a.len(), b.len());
            }
            let pa: Vec<_> = std::iter::from_fn(|| a.pop().unwrap()).collect();
            let pb: Vec<_> = std::iter::from_fn(|| b.pop().unwrap()).collect();
            assert_eq!(pa, pb);
        }
    }

    #[test]
    fn a_reserved_number_pops_where_an_event_pushed_then_would() {
        let mut q = EventQueue::with_lanes(100, 4);
        q.push_after(SimDuration::from_secs(1), "first");
        let r = q.reserve();
        q.push_after(SimDuration::from_secs(1), "third");
        q.push_after(SimDuration::ZERO, "now");
        assert_eq!(q.pop().unwrap(), Some((SimTime::ZERO, "now")));
        // Decided later, it still comes between the two pushed around it.
        q.push_reserved(SimTime::from_secs(1), r, "second");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().unwrap().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["first", "second", "third"]);
    }

    #[test]
    fn events_at_the_end_of_time_are_never_due() {
        let mut q = EventQueue::with_lanes(100, 4);
        let last = SimTime::from_nanos(u64::MAX - 1);
        q.push(SimTime::MAX, "never-push");
        q.push(SimTime::from_secs(2), "b");
        q.push_after(SimDuration::MAX, "never-after");
        q.push(last, "last1");
        q.push_after(SimDuration::from_secs(1), "a");
        q.push(last, "last2");
        assert_eq!(q.len(), 4);
        assert_eq!(q.events_beyond_end(), 2);
        assert_eq!(q.pop().unwrap(), Some((SimTime::from_secs(1), "a")));
        // Once time has moved, a delay that passes the end saturates there.
        q.push_after(SimDuration::from_nanos(u64::MAX - 1), "never-saturated");
        q.push_after(SimDuration::from_nanos(u64::MAX - 1), "never-same-lane");
        q.push_after(SimDuration::from_secs(1), "c");
        assert_eq!(q.events_beyond_end(), 4);
        let rest: Vec<_> = std::iter::from_fn(|| q.pop().unwrap()).collect();
        assert_eq!(
            rest,
            vec![
                (SimTime::from_secs(2), "b"),
                (SimTime::from_secs(2), "c"),
                (last, "last1"),
                (last, "last2"),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.now(), last);
        assert_eq!(q.events_processed(), 5);
        // Nothing is ever due at the end, even when it is the only event.
        q.push(SimTime::MAX, "never");
        assert_eq!(q.pop().unwrap(), None);
        assert_eq!(q.events_beyond_end(), 5);
    }

    #[test]
    fn dropped_events_do_not_spend_the_budget() {
        let mut q = EventQueue::new(1);
        q.push(SimTime::MAX, 0);
        q.push(SimTime::MAX, 1);
        q.push(SimTime::from_secs(1), 2);
        assert_eq!(q.pop().unwrap(), Some((SimTime::from_secs(1), 2)));
        assert_eq!(q.pop().unwrap(), None);
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn past_events_are_a_bug() {
        let mut q = EventQueue::new(10);
        q.push(SimTime::from_secs(2), ());
        q.pop().unwrap();
        q.push(SimTime::from_secs(1), ());
    }
}
