//! Typed handles of the read models: each model is named once, by a constant that carries the
//! type of its documents, so a misspelt model or a wrong document type is a compile error. Code
//! outside this crate reaches documents only through [`ReadModels::of`] and a [`View`].

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, RwLockReadGuard};

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::docs::Doc;
use crate::runner::{ReadModel, ReadModels};

/// A read model: its stored name, what one of its documents is called in messages, and the
/// type its documents decode to.
pub struct Model<D> {
    name: &'static str,
    noun: &'static str,
    doc: PhantomData<fn() -> D>,
}

impl<D> Model<D> {
    /// The handle of the model stored as `name`, whose documents are each a `noun`.
    pub(crate) const fn new(name: &'static str, noun: &'static str) -> Self {
        Self {
            name,
            noun,
            doc: PhantomData,
        }
    }

    /// The stored name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What one document is called in messages (`extension`, `call`…).
    pub const fn noun(&self) -> &'static str {
        self.noun
    }
}

impl<D> Clone for Model<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Model<D> {}

impl<D> std::fmt::Debug for Model<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// No documents: what a view of a model the node does not run reads.
static NO_DOCS: BTreeMap<String, Doc> = BTreeMap::new();

/// The documents of one model as read at one moment, in key order.
pub enum DocsGuard<'a> {
    /// The model's documents, read-locked.
    Locked(RwLockReadGuard<'a, BTreeMap<String, Doc>>),
    /// No such model on this node.
    Empty,
}

impl Deref for DocsGuard<'_> {
    type Target = BTreeMap<String, Doc>;

    fn deref(&self) -> &Self::Target {
        match self {
            DocsGuard::Locked(docs) => docs,
            DocsGuard::Empty => &NO_DOCS,
        }
    }
}

/// One model's documents, typed.
pub struct View<'a, D> {
    model: Option<&'a Arc<ReadModel>>,
    doc: PhantomData<fn() -> D>,
}

impl<D: DeserializeOwned> View<'_, D> {
    /// The document at `key`, decoded.
    pub fn get(&self, key: &str) -> Option<D> {
        self.doc(key)?.decode()
    }

    /// The document keyed by `id`, decoded.
    pub fn by_id(&self, id: Uuid) -> Option<D> {
        self.get(&id.to_string())
    }

    /// The document at `key` as stored (with its tenant).
    pub fn doc(&self, key: &str) -> Option<Doc> {
        self.model?.get(key)
    }

    /// Whether a document is at `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.model.is_some_and(|m| m.read().contains_key(key))
    }

    /// Every document, read-locked, to scan in place (hold the guard briefly).
    pub fn read(&self) -> DocsGuard<'_> {
        match self.model {
            Some(model) => DocsGuard::Locked(model.read()),
            None => DocsGuard::Empty,
        }
    }

    /// Every document that decodes as `D`.
    pub fn all(&self) -> Vec<D> {
        self.read().values().filter_map(Doc::decode).collect()
    }

    /// Every document of `tenant` that decodes as `D` (the others are not decoded).
    pub fn of_tenant(&self, tenant: Uuid) -> Vec<D> {
        self.read()
            .values()
            .filter(|d| d.tenant_id == Some(tenant))
            .filter_map(Doc::decode)
            .collect()
    }

    /// Position of the last event the model applied (0 when the node does not run it).
    pub fn checkpoint(&self) -> i64 {
        self.model.map_or(0, |m| m.checkpoint())
    }
}

impl ReadModels {
    /// The documents of `model`.
    pub fn of<D>(&self, model: Model<D>) -> View<'_, D> {
        View {
            model: self.model_named(model.name()),
            doc: PhantomData,
        }
    }
}
