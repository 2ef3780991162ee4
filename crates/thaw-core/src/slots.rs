//! A generational slot arena: stable small handles to values that come and
//! go (sockets, server connections, proxy clients), with slot reuse and
//! stale-handle detection, and iteration in slot order (deterministic).
use std::fmt;
use std::marker::PhantomData;

/// A handle to a value in a [`Slots`] arena. A handle whose value was
/// removed never finds the slot's next occupant: the generation differs.
pub struct SlotRef<T> {
    idx: u32,
    gen: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T> SlotRef<T> {
    /// The slot index (stable while the value lives; reused after).
    pub fn index(self) -> u32 {
        self.idx
    }
    /// The slot's generation when the value was inserted.
    pub fn generation(self) -> u32 {
        self.gen
    }
}

impl<T> Clone for SlotRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SlotRef<T> {}
impl<T> PartialEq for SlotRef<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.idx, self.gen) == (o.idx, o.gen)
    }
}
impl<T> Eq for SlotRef<T> {}
impl<T> PartialOrd for SlotRef<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for SlotRef<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.idx, self.gen).cmp(&(o.idx, o.gen))
    }
}
impl<T> fmt::Debug for SlotRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}g{}", self.idx, self.gen)
    }
}

struct Slot<T> {
    gen: u32,
    value: Option<T>,
}

/// The arena.
pub struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Slots<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `v`, reusing a free slot if there is one.
    pub fn insert(&mut self, v: T) -> SlotRef<T> {
        self.live += 1;
        match self.free.pop() {
            Some(idx) => {
                let slot = &mut self.slots[idx as usize];
                slot.gen = slot.gen.wrapping_add(1);
                slot.value = Some(v);
                SlotRef {
                    idx,
                    gen: slot.gen,
                    _t: PhantomData,
                }
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    value: Some(v),
                });
                SlotRef {
                    idx: self.slots.len() as u32 - 1,
                    gen: 0,
                    _t: PhantomData,
                }
            }
        }
    }

    /// The value `r` points to, if it is still there.
    pub fn get(&self, r: SlotRef<T>) -> Option<&T> {
        let slot = self.slots.get(r.idx as usize)?;
        if slot.gen != r.gen {
            return None;
        }
        slot.value.as_ref()
    }

    /// Mutable access to the value `r` points to.
    pub fn get_mut(&mut self, r: SlotRef<T>) -> Option<&mut T> {
        let slot = self.slots.get_mut(r.idx as usize)?;
        if slot.gen != r.gen {
            return None;
        }
        slot.value.as_mut()
    }

    /// Removes and returns the value; `None` if it was already gone.
    pub fn remove(&mut self, r: SlotRef<T>) -> Option<T> {
        let slot = self.slots.get_mut(r.idx as usize)?;
        if slot.gen != r.gen {
            return None;
        }
        let v = slot.value.take()?;
        self.free.push(r.idx);
        self.live -= 1;
        Some(v)
    }

    /// Drops the value in place; false if it was already gone. Unlike
    /// [`Slots::remove`] nothing is moved out: for a large value that the
    /// caller does not need back (a socket is ~560 bytes), that copy was
    /// most of the cost of removing it.
    pub fn free(&mut self, r: SlotRef<T>) -> bool {
        let Some(slot) = self.slots.get_mut(r.idx as usize) else {
            return false;
        };
        if slot.gen != r.gen || slot.value.is_none() {
            return false;
        }
        slot.value = None;
        self.free.push(r.idx);
        self.live -= 1;
        true
    }

    /// Values alive.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when nothing is alive.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Live values with their handles, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (SlotRef<T>, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    SlotRef {
                        idx: i as u32,
                        gen: s.gen,
                        _t: PhantomData,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_miss_the_next_occupant() {
        let mut s: Slots<&str> = Slots::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.get(a), Some(&"a"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        assert!(!s.free(a), "already removed");
        let c = s.insert("c");
        assert_eq!(c.index(), a.index(), "slot reused");
        assert_eq!(s.get(a), None, "stale handle");
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.len(), 2);
        let order: Vec<&str> = s.iter().map(|(_, v)| *v).collect();
        assert_eq!(order, vec!["c", "b"]);
        *s.get_mut(b).unwrap() = "B";
        assert_eq!(s.get(b), Some(&"B"));
        assert!(!s.is_empty());
        assert!(s.free(c));
        assert!(!s.free(c));
        assert_eq!(s.get(c), None);
        assert_eq!(s.len(), 1);
        let d = s.insert("d");
        assert_eq!(d.index(), c.index(), "a freed slot is reused");
        assert_eq!(s.get(c), None, "stale handle after free");
    }
}
