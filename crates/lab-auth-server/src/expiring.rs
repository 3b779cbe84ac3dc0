//! A map whose entries end at a deadline, kept in deadline order and, optionally, grouped by an
//! owner (the client or principal they belong to, the grant they were minted from).
//!
//! Every store of the AS is one of these (issue 14, item 6): expiry takes the front of a sorted
//! set instead of scanning every map on every request under the AS's mutex, and the owner index
//! lets a cap be per client or per principal (one caller's flood makes room among its own
//! entries, never among another's) and lets a grant's tokens be found without a scan.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug)]
struct Entry<V> {
    value: V,
    deadline: u64,
    owner: Option<Box<str>>,
    /// Insertion order, for "the owner's oldest".
    seq: u64,
}

/// Entries by key, each until its deadline.
#[derive(Debug)]
pub(crate) struct Expiring<V> {
    entries: HashMap<String, Entry<V>>,
    by_deadline: BTreeSet<(u64, String)>,
    by_owner: HashMap<Box<str>, BTreeSet<(u64, String)>>,
    /// Each owner by how many entries it has, so the largest is found without a scan.
    by_size: BTreeSet<(usize, Box<str>)>,
    next_seq: u64,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            by_deadline: BTreeSet::new(),
            by_owner: HashMap::new(),
            by_size: BTreeSet::new(),
            next_seq: 0,
        }
    }
}

impl<V> Expiring<V> {
    /// Inserts (or replaces) `key` until `deadline`, under `owner`.
    pub(crate) fn insert(&mut self, key: String, value: V, deadline: u64, owner: Option<&str>) {
        self.remove(&key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_deadline.insert((deadline, key.clone()));
        if let Some(owner) = owner {
            let owned = self.by_owner.entry(owner.into()).or_default();
            self.by_size.remove(&(owned.len(), owner.into()));
            owned.insert((seq, key.clone()));
            self.by_size.insert((owned.len(), owner.into()));
        }
        self.entries.insert(key, Entry { value, deadline, owner: owner.map(Into::into), seq });
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.by_deadline.remove(&(entry.deadline, key.to_owned()));
        if let Some(owner) = &entry.owner
            && let Some(owned) = self.by_owner.get_mut(owner)
        {
            self.by_size.remove(&(owned.len(), owner.clone()));
            owned.remove(&(entry.seq, key.to_owned()));
            if owned.is_empty() {
                self.by_owner.remove(owner);
            } else {
                self.by_size.insert((owned.len(), owner.clone()));
            }
        }
        Some(entry.value)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|entry| &entry.value)
    }

    /// The value, to change in place (its deadline and owner stay).
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.get_mut(key).map(|entry| &mut entry.value)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Moves `key`'s deadline to `deadline` if that is later.
    pub(crate) fn extend(&mut self, key: &str, deadline: u64) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        if deadline <= entry.deadline {
            return;
        }
        self.by_deadline.remove(&(entry.deadline, key.to_owned()));
        entry.deadline = deadline;
        self.by_deadline.insert((deadline, key.to_owned()));
    }

    /// Removes every entry whose deadline is `now` or earlier: the front of the deadline order.
    pub(crate) fn expire(&mut self, now: u64) {
        while let Some((_, key)) = self.by_deadline.first().filter(|(deadline, _)| *deadline <= now).cloned() {
            self.remove(&key);
        }
    }

    /// How many entries `owner` has.
    pub(crate) fn owned(&self, owner: &str) -> usize {
        self.by_owner.get(owner).map_or(0, BTreeSet::len)
    }

    /// The keys of `owner`'s entries, oldest first.
    pub(crate) fn keys_of(&self, owner: &str) -> Vec<String> {
        self.by_owner.get(owner).map(|owned| owned.iter().map(|(_, key)| key.clone()).collect()).unwrap_or_default()
    }

    /// `owner`'s oldest entry.
    pub(crate) fn oldest_of(&self, owner: &str) -> Option<String> {
        self.by_owner.get(owner)?.first().map(|(_, key)| key.clone())
    }

    /// Makes room for one more entry of `owner`: past `per_owner` entries its oldest goes, and
    /// past `total` entries in all the oldest of the owner with the most, so a flood only ever
    /// pushes out the flooder's own entries. Returns what went.
    pub(crate) fn make_room(&mut self, owner: &str, per_owner: usize, total: usize) -> Vec<(String, V)> {
        let mut evicted = Vec::new();
        if self.owned(owner) >= per_owner
            && let Some(oldest) = self.oldest_of(owner)
            && let Some(value) = self.remove(&oldest)
        {
            evicted.push((oldest, value));
        }
        if self.len() >= total
            && let Some(oldest) = self.oldest_of_largest_owner()
            && let Some(value) = self.remove(&oldest)
        {
            evicted.push((oldest, value));
        }
        evicted
    }

    /// The oldest entry of the owner with the most entries: what makes room at a global cap, so
    /// that a flood only ever pushes out the flooder's own entries.
    pub(crate) fn oldest_of_largest_owner(&self) -> Option<String> {
        let (_, owner) = self.by_size.last()?;
        self.oldest_of(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::Expiring;

    #[test]
    fn entries_expire_in_deadline_order_and_are_grouped_by_owner() {
        let mut map = Expiring::default();
        map.insert("a".to_owned(), 1, 10, Some("alice"));
        map.insert("b".to_owned(), 2, 20, Some("alice"));
        map.insert("c".to_owned(), 3, 5, Some("mallory"));
        map.insert("d".to_owned(), 4, 30, None);
        assert_eq!((map.len(), map.owned("alice"), map.owned("mallory")), (4, 2, 1));
        assert_eq!(map.keys_of("alice"), ["a", "b"]);
        assert_eq!(map.oldest_of_largest_owner().as_deref(), Some("a"));
        map.insert("f".to_owned(), 6, 40, Some("mallory"));
        map.insert("g".to_owned(), 7, 40, Some("mallory"));
        assert_eq!(map.oldest_of_largest_owner().as_deref(), Some("c"), "mallory now holds the most");
        map.remove("f");
        map.remove("g");
        map.expire(10);
        assert_eq!(map.len(), 2, "c (5) and a (10) ended");
        assert_eq!((map.owned("alice"), map.owned("mallory")), (1, 0));
        map.extend("b", 40);
        map.extend("b", 15);
        map.expire(35);
        assert_eq!(map.get("b"), Some(&2), "extended past 35");
        assert!(!map.contains_key("d"));
        *map.get_mut("b").unwrap() = 7;
        assert_eq!(map.remove("b"), Some(7));
        assert_eq!((map.len(), map.owned("alice")), (0, 0));
        // Replacing a key moves it to its new owner and deadline.
        map.insert("e".to_owned(), 1, 10, Some("alice"));
        map.insert("e".to_owned(), 2, 50, Some("bob"));
        assert_eq!((map.owned("alice"), map.owned("bob"), map.len()), (0, 1, 1));
        map.expire(49);
        assert_eq!(map.oldest_of("bob").as_deref(), Some("e"));
        // Room: the owner's own oldest past its cap, then the largest owner's past the total.
        map.insert("h".to_owned(), 8, 60, Some("bob"));
        map.insert("i".to_owned(), 9, 60, Some("carol"));
        let evicted = map.make_room("carol", 1, 3);
        assert_eq!(
            evicted.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(),
            ["i"],
            "carol's own, then under the total"
        );
        let evicted = map.make_room("dave", 10, 2);
        assert_eq!(evicted.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), ["e"], "bob holds the most");
    }
}
