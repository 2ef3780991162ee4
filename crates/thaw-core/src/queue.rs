//! The event queue: a min-heap keyed by `(time, insertion sequence)`.
//!
//! Two events scheduled for the same instant are popped in the order they
//! were pushed. This is the whole tie-breaking rule, and models rely on it.
use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: SimTime,
    popped: u64,
    budget: u64,
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero that allows `budget` events to be popped.
    pub fn new(budget: u64) -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
            now: SimTime::ZERO,
            popped: 0,
            budget,
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

    /// Number of events still pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at `at`. Scheduling in the past is a model bug.
    pub fn push(&mut self, at: SimTime, event: E) {
        assert!(
            at >= self.now,
            "event scheduled in the past: {at} < now {}",
            self.now
        );
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    /// Time of the next pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.at)
    }

    /// Pops the next event, advancing `now`. Errs once the budget is spent.
    pub fn pop(&mut self) -> Result<Option<(SimTime, E)>, BudgetExceeded> {
        let Some(entry) = self.heap.pop() else {
            return Ok(None);
        };
        if self.popped >= self.budget {
            return Err(BudgetExceeded {
                budget: self.budget,
                at: entry.at,
            });
        }
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
    #[should_panic(expected = "in the past")]
    fn past_events_are_a_bug() {
        let mut q = EventQueue::new(10);
        q.push(SimTime::from_secs(2), ());
        q.pop().unwrap();
        q.push(SimTime::from_secs(1), ());
    }
}
