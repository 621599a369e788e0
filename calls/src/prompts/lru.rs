//! A cache bounded by bytes, least recently used out first: the prompts held in memory, and
//! the spoken texts kept on disk (whose evictions the caller deletes).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// An entry: its value, its size, and when it was last used.
#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: u64,
    used: u64,
}

#[derive(Debug)]
struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    bytes: u64,
    clock: u64,
}

/// Values by key, at most `budget` bytes of them (one entry larger than the budget is kept
/// alone until the next insertion).
#[derive(Debug)]
pub struct ByteLru<K, V> {
    budget: u64,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> ByteLru<K, V> {
    /// An empty cache of at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A poisoned lock only means a thread panicked mid-update; the map is still a map.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value of `key`, now the most recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.entries.get_mut(key).map(|entry| {
            entry.used = now;
            entry.value.clone()
        })
    }

    /// Whether `key` is held (without counting as a use).
    pub fn contains(&self, key: &K) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// Holds `value` of `bytes` under `key` as the most recently used, and returns what had
    /// to go to stay within the budget.
    pub fn insert(&self, key: K, value: V, bytes: u64) -> Vec<(K, V)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.entries.insert(
            key.clone(),
            Entry {
                value,
                bytes,
                used: now,
            },
        ) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        let mut evicted = Vec::new();
        while inner.bytes > self.budget {
            let oldest = inner
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(entry) = inner.entries.remove(&oldest) {
                inner.bytes -= entry.bytes;
                evicted.push((oldest, entry.value));
            }
        }
        evicted
    }

    /// The bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_to_stay_within_the_budget() {
        let cache = ByteLru::new(100);
        assert!(cache.insert("a", 1, 40).is_empty());
        assert!(cache.insert("b", 2, 40).is_empty());
        assert_eq!(cache.get(&"a"), Some(1)); // b is now the oldest
        assert_eq!(cache.insert("c", 3, 40), vec![("b", 2)]);
        assert_eq!(cache.bytes(), 80);
        assert!(cache.contains(&"a") && cache.contains(&"c") && !cache.contains(&"b"));
        // Larger than the budget: kept alone.
        let evicted = cache.insert("huge", 4, 500);
        assert_eq!(evicted.len(), 2);
        assert_eq!(cache.bytes(), 500);
        // Replacing an entry counts its new size only.
        cache.insert("huge", 5, 10);
        assert_eq!((cache.bytes(), cache.get(&"huge")), (10, Some(5)));
    }
}
