//! Documents of a read model and the overlay a projection writes through while applying a batch.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One document of a read model.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// The enterprise it belongs to, for tenant scoping (`None`: platform-wide).
    pub tenant_id: Option<Uuid>,
    /// The JSON document (object keys sorted, so its text is canonical).
    pub value: serde_json::Value,
}

impl Doc {
    /// Decodes the document into `T`; `None` when it does not fit.
    pub fn decode<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.value.clone()).ok()
    }
}

/// The view a projection has of its documents while applying events: reads fall through to the
/// committed documents, writes stay in the overlay until the batch commits.
pub struct Docs<'a> {
    pub(crate) base: &'a BTreeMap<String, Doc>,
    pub(crate) overlay: &'a mut BTreeMap<String, Option<Doc>>,
}

impl Docs<'_> {
    /// The document at `key`, including writes of this batch.
    pub fn get(&self, key: &str) -> Option<&Doc> {
        match self.overlay.get(key) {
            Some(written) => written.as_ref(),
            None => self.base.get(key),
        }
    }

    /// The document at `key` decoded as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.get(key).and_then(Doc::decode)
    }

    /// Writes the document at `key`.
    pub fn put<T: Serialize>(
        &mut self,
        key: impl Into<String>,
        tenant_id: Option<Uuid>,
        value: &T,
    ) {
        // Serializing plain read-model structs cannot fail; a failure would leave the key as is.
        if let Ok(value) = serde_json::to_value(value) {
            self.overlay
                .insert(key.into(), Some(Doc { tenant_id, value }));
        }
    }

    /// Changes the document at `key` in place, when it exists and decodes as `T`.
    pub fn update<T: Serialize + DeserializeOwned>(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut T),
    ) {
        let Some(doc) = self.get(key) else { return };
        let tenant_id = doc.tenant_id;
        if let Some(mut value) = doc.decode::<T>() {
            change(&mut value);
            self.put(key, tenant_id, &value);
        }
    }

    /// The keys of the documents (including this batch's writes) that decode as `T` and
    /// satisfy `keep`. A model in memory sees all its documents; a table model only the rows
    /// its batch read.
    pub fn keys_where<T: DeserializeOwned>(&self, keep: impl Fn(&T) -> bool) -> Vec<String> {
        let stored = self
            .base
            .iter()
            .filter(|(key, _)| !self.overlay.contains_key(*key));
        let written = self
            .overlay
            .iter()
            .filter_map(|(key, doc)| doc.as_ref().map(|doc| (key, doc)));
        stored
            .chain(written)
            .filter(|(_, doc)| doc.decode::<T>().is_some_and(|value| keep(&value)))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Removes the document at `key`.
    pub fn remove(&mut self, key: &str) {
        self.overlay.insert(key.to_owned(), None);
    }
}

/// SHA-256 over documents fed in key order (key, tenant and canonical JSON): one encoding for
/// documents in memory and rows streamed from either backend.
#[derive(Default)]
pub(crate) struct DocHasher {
    hasher: Sha256,
    /// Documents fed so far.
    pub(crate) count: usize,
}

impl DocHasher {
    /// Feeds the next document.
    pub(crate) fn add(&mut self, key: &str, doc: &Doc) {
        self.hasher.update(key.as_bytes());
        self.hasher.update([0]);
        self.hasher.update(
            doc.tenant_id
                .map(|t| t.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        self.hasher.update([0]);
        self.hasher.update(doc.value.to_string().as_bytes());
        self.hasher.update([b'\n']);
        self.count += 1;
    }

    /// The digest, in hex.
    pub(crate) fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}
