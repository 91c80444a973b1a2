//! The index's key hash.

/// A replacement for the index's key hash (see [`crate::StoreOptions::key_hasher`]).
pub type KeyHasher = fn(&[u8]) -> u64;

/// The index's key hash: XXH3-64 with a seed of the store's own, or a test's replacement.
///
/// The seed is drawn at random when a store is opened without an index checkpoint (and
/// kept in the checkpoint, so that the next open can use it). Keys chosen to collide under
/// one seed do not collide under another, so an attacker who picks the keys of a store
/// (a cache keyed by URL, say) cannot crowd them into one run of the table and make every
/// insert and lookup slow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHash {
    pub custom: Option<KeyHasher>,
    pub seed: u64,
}

impl KeyHash {
    /// A hash with a fresh random seed.
    pub fn random(custom: Option<KeyHasher>) -> KeyHash {
        use std::hash::BuildHasher;
        // `RandomState` is keyed from the operating system's randomness once per thread
        // and moves to a new key for each instance.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        KeyHash { custom, seed }
    }

    /// The hash of `key`.
    #[inline]
    pub fn of(&self, key: &[u8]) -> u64 {
        match self.custom {
            Some(f) => f(key),
            None => xxhash_rust::xxh3::xxh3_64_with_seed(key, self.seed),
        }
    }
}
