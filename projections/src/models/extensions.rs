//! Read model `extensions`: one document per extension with its settings and live bindings.

use chrono::{DateTime, Utc};
use domain::extension::{Binding, Extension, ExtensionEvent, ExtensionSettings};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `extensions` read model, whose documents are each a extension.
pub const EXTENSIONS: crate::handle::Model<ExtensionDoc> =
    crate::handle::Model::new("extensions", "extension");

/// An extension as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Number (also the SIP user name).
    pub number: String,
    /// SIP password.
    pub sip_password: String,
    /// Settings.
    pub settings: ExtensionSettings,
    /// Registered contacts.
    pub bindings: Vec<Binding>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Extensions;

impl Projection for Extensions {
    fn name(&self) -> &'static str {
        EXTENSIONS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Extension>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            ExtensionEvent::ExtensionCreated {
                enterprise_id,
                number,
                sip_password,
                at,
            } => {
                let doc = ExtensionDoc {
                    id,
                    enterprise_id,
                    number,
                    sip_password,
                    settings: ExtensionSettings::default(),
                    bindings: Vec::new(),
                    created_at: at,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            ExtensionEvent::ExtensionUpdated { settings, .. } => {
                docs.update(&key, |d: &mut ExtensionDoc| d.settings = settings)
            }
            ExtensionEvent::SipPasswordRotated { sip_password, .. } => {
                docs.update(&key, |d: &mut ExtensionDoc| d.sip_password = sip_password)
            }
            ExtensionEvent::ExtensionDeleted { .. } => docs.remove(&key),
            ExtensionEvent::ExtensionRegistered { binding, .. } => {
                docs.update(&key, |d: &mut ExtensionDoc| {
                    d.bindings.retain(|b| b.contact != binding.contact);
                    d.bindings.push(binding);
                })
            }
            ExtensionEvent::ExtensionUnregistered { contact, .. } => {
                docs.update(&key, |d: &mut ExtensionDoc| {
                    d.bindings.retain(|b| b.contact != contact)
                });
            }
        }
        Ok(())
    }
}
