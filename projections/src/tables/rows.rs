//! The typed rows a table projection changes while it applies one batch: those the batch read,
//! decoded once from the store, and those it wrote, encoded once when the batch commits. A row
//! the projection looks at that was not fetched is noted as wanted: the writer fetches it and
//! applies the batch again from the stored rows (a projection is deterministic), so a
//! projection may read rows whose keys only the rows it read tell (a call's queue hour, named
//! by the call's queue entry).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::spec::{Cell, Row, StoredRow};
use crate::error::ProjectionError;

/// The rows of one batch: read ones and written ones, each with its tenant.
#[derive(Debug)]
pub struct Rows<R> {
    rows: BTreeMap<String, (Option<Uuid>, R)>,
    /// Keys fetched from the store (found or not).
    fetched: BTreeSet<String>,
    /// Keys the store has a row at.
    found: BTreeSet<String>,
    written: BTreeSet<String>,
    /// Keys looked at that were neither fetched nor written.
    wanted: BTreeSet<String>,
}

impl<R> Rows<R> {
    /// Notes `key` as wanted when the batch does not know it.
    fn look(&mut self, key: &str) {
        if !self.rows.contains_key(key)
            && !self.fetched.contains(key)
            && !self.written.contains(key)
        {
            self.wanted.insert(key.to_owned());
        }
    }

    /// The row at `key`, as the batch has it so far.
    pub fn get(&mut self, key: &str) -> Option<&R> {
        self.look(key);
        self.rows.get(key).map(|(_, row)| row)
    }

    /// The row at `key`, to change in place (it is written when the batch commits).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut R> {
        self.look(key);
        let (_, row) = self.rows.get_mut(key)?;
        if !self.written.contains(key) {
            self.written.insert(key.to_owned());
        }
        Some(row)
    }

    /// Writes the row at `key`.
    pub fn put(&mut self, key: String, tenant_id: Option<Uuid>, row: R) {
        self.written.insert(key.clone());
        self.rows.insert(key, (tenant_id, row));
    }

    /// Deletes the row at `key`.
    pub fn remove(&mut self, key: &str) {
        // Whether the store has it decides whether a deletion is written.
        self.look(key);
        self.rows.remove(key);
        self.written.insert(key.to_owned());
    }
}

impl<R: Serialize + DeserializeOwned> Rows<R> {
    /// The rows read from the store at `fetched` (those found), decoded.
    pub(crate) fn decode(
        stored: &[StoredRow],
        fetched: &BTreeSet<String>,
    ) -> Result<Self, ProjectionError> {
        let mut rows = BTreeMap::new();
        let mut found = BTreeSet::new();
        for stored in stored {
            found.insert(stored.key.clone());
            let row: R =
                serde_json::from_str(&stored.doc).map_err(|source| ProjectionError::Json {
                    position: 0,
                    source,
                })?;
            let tenant = stored
                .tenant
                .as_deref()
                .and_then(|t| Uuid::parse_str(t).ok());
            rows.insert(stored.key.clone(), (tenant, row));
        }
        Ok(Self {
            rows,
            fetched: fetched.clone(),
            found,
            written: BTreeSet::new(),
            wanted: BTreeSet::new(),
        })
    }

    /// The keys looked at that the batch did not know.
    pub(crate) fn take_wanted(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.wanted)
    }

    /// The written rows, encoded for the store with their columns (`None`: deleted; a row
    /// made and deleted within the batch is not written at all).
    pub(crate) fn encode(
        self,
        columns: impl Fn(&R) -> Vec<Cell>,
    ) -> Result<BTreeMap<String, Option<Row>>, ProjectionError> {
        let Self {
            mut rows,
            written,
            found,
            ..
        } = self;
        written
            .into_iter()
            .filter_map(|key| match rows.remove(&key) {
                Some(row) => Some((key, Some(row))),
                None if found.contains(&key) => Some((key, None)),
                None => None,
            })
            .map(|(key, row)| {
                let Some((tenant, row)) = row else {
                    return Ok((key, None));
                };
                let doc = serde_json::to_string(&row).map_err(|source| ProjectionError::Json {
                    position: 0,
                    source,
                })?;
                let encoded = Row {
                    tenant: tenant.map(|t| t.to_string()),
                    cells: columns(&row),
                    doc,
                };
                Ok((key, Some(encoded)))
            })
            .collect()
    }
}
