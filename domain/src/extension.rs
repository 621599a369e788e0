//! The extension (分机, manual §2.4): a number in an enterprise that a SIP phone registers to
//! and agents sign in to. The operator provisions it (number and SIP credentials are fixed);
//! the enterprise edits its settings; the registrar records its bindings.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{optional_text, FieldError};

/// The extension aggregate.
pub struct Extension;

/// When the screen pops (弹屏时机).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopTiming {
    /// On ringing.
    #[default]
    Ringing,
    /// On answer.
    Answered,
}

/// Screen-pop settings (弹屏设置).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenPop {
    /// `none`, `crm` (the built-in CRM detail page) or `url` (a third-party URL template).
    pub mode: String,
    /// URL template when `mode` is `url`, e.g. `https://crm.example/pop?caller={caller}`.
    pub url: String,
    /// When to pop.
    pub timing: PopTiming,
}

/// What the enterprise may edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionSettings {
    /// Manual outbound calls allowed (允许手动外呼).
    pub manual_outbound: bool,
    /// Caller ID for outbound calls (主叫号码), empty for none.
    pub caller_id: String,
    /// Sub-accounts allowed to sign in (签入许可).
    pub sign_in_accounts: BTreeSet<Uuid>,
    /// Bound landline or mobile (固话/手机), empty for none.
    pub bound_number: String,
    /// Forward to the bound number when no phone is registered (下线可转接).
    pub forward_when_offline: bool,
    /// Screen pop.
    pub screen_pop: ScreenPop,
}

fn phone_number(field: &str, value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !value.is_empty()
        && (digits.len() < 3 || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(FieldError::new(
            field,
            "must be 3 to 20 digits, optionally after +",
        ));
    }
    Ok(value.to_owned())
}

impl ExtensionSettings {
    fn validated(self) -> Result<Self, FieldError> {
        let mode = self.screen_pop.mode.trim().to_owned();
        let mode = if mode.is_empty() {
            "none".to_owned()
        } else {
            mode
        };
        if !["none", "crm", "url"].contains(&mode.as_str()) {
            return Err(FieldError::new(
                "screenPop.mode",
                "must be none, crm or url",
            ));
        }
        let url = optional_text("screenPop.url", &self.screen_pop.url, 1_000)?;
        if mode == "url" && !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FieldError::new(
                "screenPop.url",
                "must be an http(s) URL template",
            ));
        }
        let bound_number = phone_number("boundNumber", &self.bound_number)?;
        if self.forward_when_offline && bound_number.is_empty() {
            return Err(FieldError::new(
                "forwardWhenOffline",
                "needs a bound number",
            ));
        }
        Ok(Self {
            manual_outbound: self.manual_outbound,
            caller_id: phone_number("callerId", &self.caller_id)?,
            sign_in_accounts: self.sign_in_accounts,
            bound_number,
            forward_when_offline: self.forward_when_offline,
            screen_pop: ScreenPop {
                mode,
                url,
                timing: self.screen_pop.timing,
            },
        })
    }
}

/// One registered contact of the extension's phone(s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The Contact URI.
    pub contact: String,
    /// When it lapses unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Where the REGISTER came from (`ip:port`).
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The phone's User-Agent.
    pub user_agent: String,
}

/// What an extension is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtensionState {
    /// Whether it exists.
    pub exists: bool,
    /// Current bindings by contact.
    pub bindings: BTreeMap<String, DateTime<Utc>>,
}

/// Commands on an extension.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionCommand {
    /// Provisions it (operator).
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Extension number, fixed.
        number: String,
        /// Generated SIP password, fixed.
        sip_password: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes its settings (enterprise).
    Update {
        /// The settings.
        settings: ExtensionSettings,
        /// Sub-accounts in `sign_in_accounts` already permitted on another extension (looked up).
        permitted_elsewhere: Vec<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it (operator).
    Delete {
        /// When.
        at: DateTime<Utc>,
    },
    /// A successful REGISTER: add or refresh `bindings`, remove `removed` (Expires 0).
    Register {
        /// Contacts added or refreshed.
        bindings: Vec<Binding>,
        /// Contacts removed.
        removed: Vec<String>,
        /// `Contact: *` with Expires 0: remove every binding.
        remove_all: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Replaces its SIP password and unregisters its phones (they must register again with
    /// the new one).
    RotateSipPassword {
        /// The new generated password.
        sip_password: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Removes bindings that lapsed by `at`.
    ExpireBindings {
        /// Now.
        at: DateTime<Utc>,
    },
}

/// Why a binding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnbindReason {
    /// The phone un-registered.
    Unregistered,
    /// It was not refreshed in time.
    Expired,
    /// The extension was deleted.
    Deleted,
    /// Its SIP password was replaced.
    PasswordRotated,
}

/// Facts about an extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExtensionEvent {
    /// Provisioned.
    ExtensionCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Number.
        number: String,
        /// SIP password.
        sip_password: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Settings changed.
    ExtensionUpdated {
        /// The settings.
        settings: ExtensionSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    ExtensionDeleted {
        /// When.
        at: DateTime<Utc>,
    },
    /// A contact registered or refreshed.
    ExtensionRegistered {
        /// The binding.
        binding: Binding,
        /// When.
        at: DateTime<Utc>,
    },
    /// Its SIP password was replaced (its phones were unregistered just before).
    SipPasswordRotated {
        /// The new SIP password.
        sip_password: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A contact's binding ended.
    ExtensionUnregistered {
        /// The contact.
        contact: String,
        /// Why.
        reason: UnbindReason,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why an extension command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The number is taken in this enterprise.
    #[error("this extension number already exists")]
    AlreadyExists,
    /// No such extension.
    #[error("extension not found")]
    NotFound,
    /// A sub-account may sign in to one extension only.
    #[error("sub-account {0} is already permitted on another extension")]
    PermittedElsewhere(Uuid),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

/// Checks a generated SIP password: at least 12 characters.
fn strong_enough(sip_password: &str) -> Result<(), ExtensionError> {
    if sip_password.chars().count() < 12 {
        return Err(FieldError::new("sipPassword", "must be at least 12 characters").into());
    }
    Ok(())
}

/// Checks an extension number: 2 to 8 digits.
pub fn extension_number(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if (2..=8).contains(&value.len()) && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new("number", "must be 2 to 8 digits"))
    }
}

impl esrs::Aggregate for Extension {
    const NAME: &'static str = "extension";
    type State = ExtensionState;
    type Command = ExtensionCommand;
    type Event = ExtensionEvent;
    type Error = ExtensionError;

    fn handle_command(
        state: &ExtensionState,
        command: ExtensionCommand,
    ) -> Result<Vec<ExtensionEvent>, ExtensionError> {
        use ExtensionCommand as C;
        use ExtensionEvent as E;
        if !matches!(command, C::Create { .. }) && !state.exists {
            return Err(ExtensionError::NotFound);
        }
        match command {
            C::Create {
                enterprise_id,
                number,
                sip_password,
                at,
            } => {
                if state.exists {
                    return Err(ExtensionError::AlreadyExists);
                }
                strong_enough(&sip_password)?;
                Ok(vec![E::ExtensionCreated {
                    enterprise_id,
                    number: extension_number(&number)?,
                    sip_password,
                    at,
                }])
            }
            C::Update {
                settings,
                permitted_elsewhere,
                at,
            } => {
                if let Some(account) = settings
                    .sign_in_accounts
                    .iter()
                    .find(|a| permitted_elsewhere.contains(a))
                {
                    return Err(ExtensionError::PermittedElsewhere(*account));
                }
                Ok(vec![E::ExtensionUpdated {
                    settings: settings.validated()?,
                    at,
                }])
            }
            C::Delete { at } => {
                let mut events: Vec<_> = state
                    .bindings
                    .keys()
                    .map(|contact| E::ExtensionUnregistered {
                        contact: contact.clone(),
                        reason: UnbindReason::Deleted,
                        at,
                    })
                    .collect();
                events.push(E::ExtensionDeleted { at });
                Ok(events)
            }
            C::Register {
                bindings,
                removed,
                remove_all,
                at,
            } => {
                let mut events = Vec::new();
                let gone: Vec<&String> = if remove_all {
                    state.bindings.keys().collect()
                } else {
                    removed.iter().collect()
                };
                for contact in gone {
                    if state.bindings.contains_key(contact) {
                        events.push(E::ExtensionUnregistered {
                            contact: contact.clone(),
                            reason: UnbindReason::Unregistered,
                            at,
                        });
                    }
                }
                if !remove_all {
                    for binding in bindings {
                        if binding.expires_at > at {
                            events.push(E::ExtensionRegistered { binding, at });
                        }
                    }
                }
                Ok(events)
            }
            C::RotateSipPassword { sip_password, at } => {
                strong_enough(&sip_password)?;
                let mut events: Vec<_> = state
                    .bindings
                    .keys()
                    .map(|contact| E::ExtensionUnregistered {
                        contact: contact.clone(),
                        reason: UnbindReason::PasswordRotated,
                        at,
                    })
                    .collect();
                events.push(E::SipPasswordRotated { sip_password, at });
                Ok(events)
            }
            C::ExpireBindings { at } => Ok(state
                .bindings
                .iter()
                .filter(|(_, expires)| **expires <= at)
                .map(|(contact, _)| E::ExtensionUnregistered {
                    contact: contact.clone(),
                    reason: UnbindReason::Expired,
                    at,
                })
                .collect()),
        }
    }

    fn apply_event(mut state: ExtensionState, event: ExtensionEvent) -> ExtensionState {
        match event {
            ExtensionEvent::ExtensionCreated { .. } => {
                state = ExtensionState {
                    exists: true,
                    bindings: BTreeMap::new(),
                }
            }
            ExtensionEvent::ExtensionDeleted { .. } => state = ExtensionState::default(),
            ExtensionEvent::ExtensionRegistered { binding, .. } => {
                state.bindings.insert(binding.contact, binding.expires_at);
            }
            ExtensionEvent::ExtensionUnregistered { contact, .. } => {
                state.bindings.remove(&contact);
            }
            ExtensionEvent::ExtensionUpdated { .. } | ExtensionEvent::SipPasswordRotated { .. } => {
            }
        }
        state
    }
}

#[cfg(test)]
mod tests;
