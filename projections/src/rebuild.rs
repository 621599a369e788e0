//! Rebuilding read models from position 0 into fresh documents and proving them equal to the
//! live ones, digest against digest.

use std::collections::BTreeMap;
use std::sync::Arc;

use eventlog::EventLog;

use crate::doc_store::DocStore;
use crate::docs::Doc;
use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::runner::ReadModel;
use crate::tables::store::TableStore;
use crate::tables::writer::{rebuild_name, TableModels};
use crate::tables::AnyTableProjection;

/// Suffix of the model name that rebuilt documents are written under.
const REBUILD_SUFFIX: &str = "#rebuild";

/// The outcome of rebuilding one read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDigest {
    /// The model.
    pub model: String,
    /// The position both were compared at (the live checkpoint).
    pub position: i64,
    /// Documents in the live model.
    pub live_docs: usize,
    /// SHA-256 of the live model's documents.
    pub live: String,
    /// SHA-256 of the rebuilt documents.
    pub rebuilt: String,
}

impl ModelDigest {
    /// Whether the rebuilt model equals the live one.
    pub fn equal(&self) -> bool {
        self.live == self.rebuilt
    }
}

/// SHA-256 over every document in key order (key, tenant and canonical JSON).
pub fn digest(docs: &BTreeMap<String, Doc>) -> String {
    let mut hasher = crate::docs::DocHasher::default();
    for (key, doc) in docs {
        hasher.add(key, doc);
    }
    hasher.finish()
}

/// Rebuilds every model of `projections` from position 0 into fresh stored documents, up to
/// the checkpoint of its live copy, and compares digests. With `swap`, a rebuilt model that
/// differs replaces the live one. `progress(done, total)` is called as events are applied.
pub async fn rebuild_and_compare(
    log: &EventLog,
    store: &DocStore,
    projections: Vec<Box<dyn Projection>>,
    swap: bool,
    mut progress: impl FnMut(i64, i64),
) -> Result<Vec<ModelDigest>, ProjectionError> {
    let mut live = Vec::new();
    let mut fresh = Vec::new();
    for projection in projections {
        let (checkpoint, docs) = store.load(projection.name()).await?;
        live.push((checkpoint, docs));
        fresh.push(Arc::new(ReadModel::new(projection, 0, BTreeMap::new())));
    }
    let target = live.iter().map(|(c, _)| *c).max().unwrap_or(0);
    let mut position = 0;
    progress(0, target);
    while position < target {
        let page = log.read_all(position, 5_000).await?;
        let Some(last) = page.last() else { break };
        position = last.position;
        let page: Vec<_> = page.into_iter().map(Arc::new).collect();
        for (model, (checkpoint, _)) in fresh.iter().zip(&live) {
            let upto: Vec<_> = page
                .iter()
                .filter(|e| e.position <= *checkpoint)
                .cloned()
                .collect();
            if let Some(changes) = model.stage(&upto)? {
                model.publish(changes);
            }
        }
        progress(position.min(target), target);
    }
    let mut digests = Vec::new();
    for (model, (checkpoint, live_docs)) in fresh.iter().zip(live) {
        let fresh_name = format!("{}{REBUILD_SUFFIX}", model.name());
        store.drop_model(&fresh_name).await?;
        let docs = model.snapshot();
        store
            .commit(&[crate::doc_store::ModelChanges {
                model: fresh_name.clone(),
                writes: docs.into_iter().map(|(k, d)| (k, Some(d))).collect(),
                checkpoint,
            }])
            .await?;
        let (_, stored) = store.load(&fresh_name).await?;
        let result = ModelDigest {
            model: model.name().to_owned(),
            position: checkpoint,
            live_docs: live_docs.len(),
            live: digest(&live_docs),
            rebuilt: digest(&stored),
        };
        if swap && !result.equal() {
            store.swap(&fresh_name, model.name()).await?;
        } else {
            store.drop_model(&fresh_name).await?;
        }
        digests.push(result);
    }
    Ok(digests)
}

/// Rebuilds every table model of `projections` from position 0 into its rebuild table, up to
/// the checkpoint its live table had when its digest was taken, and compares the digests
/// (both streamed in key order). With `swap`, a rebuilt table that differs replaces the live
/// one; the live writer goes on from the rebuilt checkpoint. Works while the node runs.
pub async fn rebuild_tables_and_compare(
    log: &EventLog,
    store: &TableStore,
    projections: Vec<Box<dyn AnyTableProjection>>,
    swap: bool,
) -> Result<Vec<ModelDigest>, ProjectionError> {
    let mut digests = Vec::new();
    for projection in projections {
        let name = projection.name();
        let spec = projection.spec();
        let rebuilt_name = rebuild_name(name);
        let live = store.digest(spec.table, name).await?;
        store.clear(spec.rebuild, &rebuilt_name).await?;
        let rebuilt = TableModels::open(store.clone(), vec![projection], true).await?;
        rebuilt.catch_up(log, Some(live.checkpoint)).await?;
        let fresh = store.digest(spec.rebuild, &rebuilt_name).await?;
        let result = ModelDigest {
            model: name.to_owned(),
            position: live.checkpoint,
            live_docs: live.rows,
            live: live.digest,
            rebuilt: fresh.digest,
        };
        if swap && !result.equal() {
            store.swap(spec, &rebuilt_name, name).await?;
        } else {
            store.clear(spec.rebuild, &rebuilt_name).await?;
        }
        digests.push(result);
    }
    Ok(digests)
}
