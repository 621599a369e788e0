//! The queue (队列, manual §2.5): where callers wait for an agent. Its settings say how long
//! callers may wait and what they hear, how calls are distributed to the member extensions
//! and what happens when nobody answers. An extension may be a member of many queues.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::WorkState;
use crate::validate::{optional_text, required_text, FieldError};

/// The queue aggregate.
pub struct Queue;

/// How a queue picks the agent for the next call (转接规则).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistributionRule {
    /// The agent idle the longest (默认: 最大空闲时间).
    #[default]
    LongestIdle,
    /// Members in turn, starting after the last one offered.
    RoundRobin,
    /// The agent with the fewest calls answered today.
    FewestCalls,
    /// The agent with the least talk time today.
    LeastTalkTime,
    /// Every available member at once; the first to answer takes the call.
    RingAll,
    /// Members in their order, always from the first.
    Sequential,
    /// Any available member.
    Random,
}

/// What happens to a caller whose queue timeout runs out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueOverflow {
    /// A message (a recording, or nothing) and the call is released.
    #[default]
    Release,
    /// The caller hears this recording, then is released.
    Message {
        /// The recording.
        voice_id: Uuid,
    },
    /// The caller goes on in an IVR flow.
    Flow {
        /// The flow.
        flow_id: Uuid,
    },
}

/// What the enterprise sets on a queue (新建队列 / 参数编辑).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSettings {
    /// Name (队列名称).
    pub name: String,
    /// Callers allowed to wait while every member is busy (最大等待数), 0–999.
    pub max_waiting: u32,
    /// Music while waiting (等待音乐); none: the built-in tone.
    pub hold_music: Option<Uuid>,
    /// Played every `prompt_interval_seconds` while waiting (等待语音提示).
    pub waiting_prompt: Option<Uuid>,
    /// Seconds between waiting prompts (提示间隔), 0–60; 0 plays none.
    pub prompt_interval_seconds: u32,
    /// How calls go to members (转接规则).
    pub rule: DistributionRule,
    /// Web-client agents are connected without ringing (Web客户端无需振铃直接接通).
    pub web_auto_answer: bool,
    /// The agent's number is read to the caller on connect (接通报工号).
    pub announce_agent_number: bool,
    /// Work states whose agents get no calls from this queue (分机不可用状态).
    pub excluded_states: BTreeSet<WorkState>,
    /// Seconds a caller may wait (队列超时时长), 1–999.
    pub queue_timeout_seconds: u32,
    /// What happens then.
    pub overflow: QueueOverflow,
    /// Seconds an agent rings before the next is tried (分机超时时长), 1–999.
    pub agent_ring_timeout_seconds: u32,
    /// Offers an agent may miss in a row before being put on break; 0: never.
    pub max_missed_offers: u32,
    /// Screen-pop page for calls from this queue (弹屏设置), a URL template or empty.
    pub screen_pop: String,
    /// Seconds an agent has after each call before the next offer (话后整理), 0–600.
    #[serde(default)]
    pub wrap_up_seconds: u32,
}

impl QueueSettings {
    fn validated(self) -> Result<Self, FieldError> {
        let name = required_text("name", &self.name, 64)?;
        if self.max_waiting > 999 {
            return Err(FieldError::new("maxWaiting", "must be 0 to 999"));
        }
        if self.prompt_interval_seconds > 60 {
            return Err(FieldError::new("promptIntervalSeconds", "must be 0 to 60"));
        }
        if !(1..=999).contains(&self.queue_timeout_seconds) {
            return Err(FieldError::new("queueTimeoutSeconds", "must be 1 to 999"));
        }
        if !(1..=999).contains(&self.agent_ring_timeout_seconds) {
            return Err(FieldError::new(
                "agentRingTimeoutSeconds",
                "must be 1 to 999",
            ));
        }
        if self.max_missed_offers > 99 {
            return Err(FieldError::new("maxMissedOffers", "must be 0 to 99"));
        }
        if self.wrap_up_seconds > 600 {
            return Err(FieldError::new("wrapUpSeconds", "must be 0 to 600"));
        }
        Ok(Self {
            name,
            screen_pop: optional_text("screenPop", &self.screen_pop, 500)?,
            ..self
        })
    }

    /// The recordings the queue plays.
    pub fn recordings(&self) -> Vec<Uuid> {
        let mut voices: Vec<Uuid> = self.hold_music.into_iter().collect();
        voices.extend(self.waiting_prompt);
        if let QueueOverflow::Message { voice_id } = self.overflow {
            voices.push(voice_id);
        }
        voices
    }
}

/// What a queue's settings and members are checked against (looked up in the enterprise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueLookups {
    /// The enterprise's approved recordings.
    pub approved_voices: BTreeSet<Uuid>,
    /// The enterprise's published IVR flows.
    pub flows: BTreeSet<Uuid>,
    /// The enterprise's extensions.
    pub extensions: BTreeSet<Uuid>,
    /// Whether another queue of the enterprise has the name.
    pub name_taken: bool,
}

fn checked(settings: QueueSettings, lookups: &QueueLookups) -> Result<QueueSettings, QueueError> {
    let settings = settings.validated()?;
    if lookups.name_taken {
        return Err(QueueError::NameTaken);
    }
    for voice in settings.recordings() {
        if !lookups.approved_voices.contains(&voice) {
            return Err(QueueError::Invalid(FieldError::new(
                "holdMusic",
                format!("recording {voice} is not an approved recording of the enterprise"),
            )));
        }
    }
    if let QueueOverflow::Flow { flow_id } = settings.overflow {
        if !lookups.flows.contains(&flow_id) {
            return Err(QueueError::Invalid(FieldError::new(
                "overflow.flowId",
                "no such published IVR flow in this enterprise",
            )));
        }
    }
    Ok(settings)
}

/// What a queue is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueState {
    /// Whether it exists.
    pub exists: bool,
    /// Its members, in order.
    pub members: Vec<Uuid>,
}

/// Commands on a queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueCommand {
    /// Creates it (新建队列).
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Settings.
        settings: QueueSettings,
        /// Looked-up facts.
        lookups: QueueLookups,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes its settings (参数编辑).
    Update {
        /// Settings.
        settings: QueueSettings,
        /// Looked-up facts.
        lookups: QueueLookups,
        /// When.
        at: DateTime<Utc>,
    },
    /// Sets its member extensions, in order (队列分机设置).
    SetMembers {
        /// The extensions.
        members: Vec<Uuid>,
        /// Looked-up facts.
        lookups: QueueLookups,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it (删除队列).
    Delete {
        /// Routes, flows and queues that send calls to it (looked up).
        used_by: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueueEvent {
    /// Created.
    QueueCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Settings.
        settings: QueueSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Settings changed.
    QueueUpdated {
        /// Settings.
        settings: QueueSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Members set.
    QueueMembersSet {
        /// The extensions, in order.
        members: Vec<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    QueueDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a queue command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue exists.
    #[error("the queue already exists")]
    AlreadyExists,
    /// No such queue.
    #[error("queue not found")]
    NotFound,
    /// Another queue has the name.
    #[error("another queue is named so")]
    NameTaken,
    /// Something sends calls to it.
    #[error("the queue is used by {}", .0.join(", "))]
    InUse(Vec<String>),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Queue {
    const NAME: &'static str = "queue";
    type State = QueueState;
    type Command = QueueCommand;
    type Event = QueueEvent;
    type Error = QueueError;

    fn handle_command(
        state: &QueueState,
        command: QueueCommand,
    ) -> Result<Vec<QueueEvent>, QueueError> {
        if !matches!(command, QueueCommand::Create { .. }) && !state.exists {
            return Err(QueueError::NotFound);
        }
        match command {
            QueueCommand::Create {
                enterprise_id,
                settings,
                lookups,
                at,
            } => {
                if state.exists {
                    return Err(QueueError::AlreadyExists);
                }
                Ok(vec![QueueEvent::QueueCreated {
                    enterprise_id,
                    settings: checked(settings, &lookups)?,
                    at,
                }])
            }
            QueueCommand::Update {
                settings,
                lookups,
                at,
            } => Ok(vec![QueueEvent::QueueUpdated {
                settings: checked(settings, &lookups)?,
                at,
            }]),
            QueueCommand::SetMembers {
                members,
                lookups,
                at,
            } => {
                let mut seen = BTreeSet::new();
                for member in &members {
                    if !lookups.extensions.contains(member) {
                        return Err(QueueError::Invalid(FieldError::new(
                            "members",
                            format!("extension {member} is not an extension of the enterprise"),
                        )));
                    }
                    if !seen.insert(*member) {
                        return Err(QueueError::Invalid(FieldError::new(
                            "members",
                            format!("extension {member} is listed twice"),
                        )));
                    }
                }
                if members.len() > 1_000 {
                    return Err(QueueError::Invalid(FieldError::new(
                        "members",
                        "a queue has at most 1000 members",
                    )));
                }
                Ok(if members == state.members {
                    vec![]
                } else {
                    vec![QueueEvent::QueueMembersSet { members, at }]
                })
            }
            QueueCommand::Delete { used_by, at } => {
                if !used_by.is_empty() {
                    return Err(QueueError::InUse(used_by));
                }
                Ok(vec![QueueEvent::QueueDeleted { at }])
            }
        }
    }

    fn apply_event(mut state: QueueState, event: QueueEvent) -> QueueState {
        match event {
            QueueEvent::QueueCreated { .. } => {
                state = QueueState {
                    exists: true,
                    members: Vec::new(),
                }
            }
            QueueEvent::QueueMembersSet { members, .. } => state.members = members,
            QueueEvent::QueueDeleted { .. } => state = QueueState::default(),
            QueueEvent::QueueUpdated { .. } => {}
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    /// Settings as the manual suggests them: 60 s queue and ring timeouts.
    pub(crate) fn settings() -> QueueSettings {
        QueueSettings {
            name: "售后".into(),
            max_waiting: 10,
            hold_music: None,
            waiting_prompt: None,
            prompt_interval_seconds: 0,
            rule: DistributionRule::LongestIdle,
            web_auto_answer: false,
            announce_agent_number: false,
            excluded_states: BTreeSet::from([WorkState::Break, WorkState::Away]),
            queue_timeout_seconds: 60,
            overflow: QueueOverflow::Release,
            agent_ring_timeout_seconds: 60,
            max_missed_offers: 3,
            screen_pop: String::new(),
            wrap_up_seconds: 0,
        }
    }

    fn created() -> QueueEvent {
        QueueEvent::QueueCreated {
            enterprise_id: Uuid::from_u128(1),
            settings: settings(),
            at: at(),
        }
    }

    #[test]
    fn a_queue_is_created_with_checked_settings() {
        given::<Queue>(vec![])
            .when(QueueCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                settings: settings(),
                lookups: QueueLookups::default(),
                at: at(),
            })
            .then(vec![created()]);
        given::<Queue>(vec![])
            .when(QueueCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                settings: QueueSettings {
                    queue_timeout_seconds: 0,
                    ..settings()
                },
                lookups: QueueLookups::default(),
                at: at(),
            })
            .then_err(QueueError::Invalid(FieldError::new(
                "queueTimeoutSeconds",
                "must be 1 to 999",
            )));
        let music = Uuid::from_u128(9);
        given::<Queue>(vec![])
            .when(QueueCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                settings: QueueSettings {
                    hold_music: Some(music),
                    ..settings()
                },
                lookups: QueueLookups::default(),
                at: at(),
            })
            .then_err(QueueError::Invalid(FieldError::new(
                "holdMusic",
                format!("recording {music} is not an approved recording of the enterprise"),
            )));
    }

    #[test]
    fn members_are_extensions_of_the_enterprise_listed_once() {
        let (a, b) = (Uuid::from_u128(3), Uuid::from_u128(4));
        let lookups = QueueLookups {
            extensions: BTreeSet::from([a, b]),
            ..QueueLookups::default()
        };
        given::<Queue>(vec![created()])
            .when(QueueCommand::SetMembers {
                members: vec![b, a],
                lookups: lookups.clone(),
                at: at(),
            })
            .then(vec![QueueEvent::QueueMembersSet {
                members: vec![b, a],
                at: at(),
            }]);
        given::<Queue>(vec![created()])
            .when(QueueCommand::SetMembers {
                members: vec![a, a],
                lookups: lookups.clone(),
                at: at(),
            })
            .then_err(QueueError::Invalid(FieldError::new(
                "members",
                format!("extension {a} is listed twice"),
            )));
        given::<Queue>(vec![created()])
            .when(QueueCommand::SetMembers {
                members: vec![Uuid::from_u128(5)],
                lookups,
                at: at(),
            })
            .then_err(QueueError::Invalid(FieldError::new(
                "members",
                format!(
                    "extension {} is not an extension of the enterprise",
                    Uuid::from_u128(5)
                ),
            )));
    }

    #[test]
    fn a_queue_in_use_is_not_deleted() {
        given::<Queue>(vec![created()])
            .when(QueueCommand::Delete {
                used_by: vec!["route 总机".into()],
                at: at(),
            })
            .then_err(QueueError::InUse(vec!["route 总机".into()]));
    }
}
