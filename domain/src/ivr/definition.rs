//! What an IVR flow is made of (manual §2.3): its entry node, its variables and its nodes, each
//! node one of the manual's types with the prompts it plays. A published definition is stored
//! in the flow's events as it is, so its JSON shape is a contract.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A flow as published: the version a call runs from its first node to its last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowDefinition {
    /// The key of the node calls enter first (入口节点).
    pub entry: String,
    /// IVR variables (IVR变量).
    pub variables: Vec<IvrVariable>,
    /// Nodes (语音导航流程节点).
    pub nodes: Vec<IvrNode>,
}

impl FlowDefinition {
    /// The node with `key`.
    pub fn node(&self, key: &str) -> Option<&IvrNode> {
        self.nodes.iter().find(|n| n.key == key)
    }

    /// The queues its transfer nodes send calls to.
    pub fn queues(&self) -> Vec<Uuid> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.action {
                NodeAction::Transfer(TransferNode {
                    target: TransferTarget::Queue { queue_id },
                    ..
                }) => Some(*queue_id),
                _ => None,
            })
            .collect()
    }
}

/// An IVR variable: letters, digits and underscores, with a description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrVariable {
    /// Name (变量名).
    pub name: String,
    /// Description (描述).
    pub description: String,
}

/// One node of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrNode {
    /// Its key in the flow: what jumps name.
    pub key: String,
    /// Name (节点名称, required).
    pub name: String,
    /// Number (节点编号, optional).
    pub number: String,
    /// Its type and settings (节点类型).
    pub action: NodeAction,
}

/// A node's type with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeAction {
    /// Playback (语音播报): the prompts, then the next node (none: hang up).
    Playback {
        /// Prompts.
        prompts: Vec<PromptItem>,
        /// Next node (播报完成跳转).
        next: Option<String>,
    },
    /// Menu (语音导航菜单).
    Menu(MenuNode),
    /// Transfer (转接).
    Transfer(TransferNode),
    /// Time condition (时间判断): the first rule that holds now, else `otherwise`.
    TimeCondition {
        /// Ordered rules.
        rules: Vec<TimeRule>,
        /// Node when no rule holds (none: hang up).
        otherwise: Option<String>,
    },
    /// Caller area (来电归属地判断): the first rule naming the caller's region, else `otherwise`.
    CallerArea {
        /// Ordered rules.
        rules: Vec<AreaRule>,
        /// Node when no rule matches (none: hang up).
        otherwise: Option<String>,
    },
    /// Voicemail (留言箱): the prompts, then the caller's message is recorded until they hang
    /// up (or `max_seconds` pass). No jump follows.
    Voicemail {
        /// Prompts.
        prompts: Vec<PromptItem>,
        /// Longest message, in seconds.
        max_seconds: u32,
    },
    /// Digit collection (数字采集).
    CollectDigits(CollectNode),
    /// HTTP interaction.
    Http(HttpNode),
    /// Hang up, after the prompts.
    Hangup {
        /// Prompts played before the call is released.
        prompts: Vec<PromptItem>,
    },
}

impl NodeAction {
    /// The type's stable name (as stored and as the API names it, upper-cased).
    pub fn kind(&self) -> &'static str {
        match self {
            NodeAction::Playback { .. } => "playback",
            NodeAction::Menu(_) => "menu",
            NodeAction::Transfer(_) => "transfer",
            NodeAction::TimeCondition { .. } => "time_condition",
            NodeAction::CallerArea { .. } => "caller_area",
            NodeAction::Voicemail { .. } => "voicemail",
            NodeAction::CollectDigits(_) => "collect_digits",
            NodeAction::Http(_) => "http",
            NodeAction::Hangup { .. } => "hangup",
        }
    }
}

/// A menu node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuNode {
    /// Prompts, played until a key is pressed.
    pub prompts: Vec<PromptItem>,
    /// Keys and where they go (跳转设置).
    pub options: Vec<MenuOption>,
    /// Seconds to wait for a key after the prompts (超时时间).
    pub timeout_seconds: u32,
    /// Played after a key that is not an option (无效按键提示).
    pub invalid_prompts: Vec<PromptItem>,
    /// Timeouts and invalid keys allowed before `fail_next`.
    pub max_attempts: u32,
    /// Node after too many timeouts or invalid keys (超时或无效次数过多跳转节点; none: hang up).
    pub fail_next: Option<String>,
}

/// One key of a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuOption {
    /// The key: `0`–`9`, `*` or `#`.
    pub key: char,
    /// The node it goes to.
    pub next: String,
}

/// A transfer node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferNode {
    /// Played while the target rings.
    pub prompts: Vec<PromptItem>,
    /// Where the call goes.
    pub target: TransferTarget,
    /// Played when the transfer fails (转接失败语音).
    pub failure_prompts: Vec<PromptItem>,
    /// Node after a failed transfer (none: hang up).
    pub failure_next: Option<String>,
}

/// Where a transfer node sends the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferTarget {
    /// An extension (转分机).
    Extension {
        /// The extension.
        extension_id: Uuid,
    },
    /// A queue (转队列).
    Queue {
        /// The queue.
        queue_id: Uuid,
    },
    /// The extension whose number a variable holds (变量转接).
    Variable {
        /// The variable.
        name: String,
    },
}

/// A rule of a time condition: from `start` to `end` on `weekdays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRule {
    /// Start of the day's window (开始时间), inclusive.
    pub start: NaiveTime,
    /// End of the window (暂停时间), exclusive; before `start` the window spans midnight.
    pub end: NaiveTime,
    /// Days, 1 = Monday … 7 = Sunday (星期选择).
    pub weekdays: Vec<u8>,
    /// Node while the rule holds.
    pub next: String,
}

/// A rule of a caller-area node: any of `regions` (a province such as `广东省`, or a city such
/// as `广东省深圳市`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRule {
    /// Regions (来电区域).
    pub regions: Vec<String>,
    /// Node for callers from them.
    pub next: String,
}

/// A digit-collection node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectNode {
    /// Prompts, played until the first key.
    pub prompts: Vec<PromptItem>,
    /// Fewest digits accepted.
    pub min_digits: u32,
    /// Most digits: collection ends when this many are in.
    pub max_digits: u32,
    /// Key that ends the input early (`#` usually), not part of the value.
    pub terminator: Option<char>,
    /// Seconds to wait for each key.
    pub timeout_seconds: u32,
    /// Variable the digits go into.
    pub variable: String,
    /// Node after a good input (none: hang up).
    pub next: Option<String>,
    /// Node after a timeout with fewer than `min_digits` (none: hang up).
    pub fail_next: Option<String>,
}

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HttpMethod {
    /// GET.
    Get,
    /// POST (with the body template, as JSON).
    Post,
}

/// An HTTP interaction node: `url` and `body` are templates in which `${name}` is the value of
/// an IVR or system variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpNode {
    /// Method.
    pub method: HttpMethod,
    /// URL template (`http://` or `https://`).
    pub url: String,
    /// Body template for POST.
    pub body: String,
    /// Longest wait for the answer, in milliseconds.
    pub timeout_ms: u32,
    /// Fields of the JSON answer copied into variables.
    pub outputs: Vec<HttpOutput>,
    /// Node after a 2xx answer (none: hang up).
    pub success_next: Option<String>,
    /// Node after a failure: no answer in time, a non-2xx status or a body that is not JSON
    /// (none: hang up).
    pub failure_next: Option<String>,
}

/// A field of an HTTP answer copied into a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpOutput {
    /// Path of the field in the JSON answer, dot-separated (`data.level`, `items.0.name`).
    pub field: String,
    /// The variable it goes into.
    pub variable: String,
}

/// One item of a prompt list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptItem {
    /// What is played.
    pub source: PromptSource,
    /// How digits in a text are read (播报方式).
    pub reading: Reading,
    /// Times it is played (播报循环次数), at least 1.
    pub loops: u32,
}

/// What a prompt item plays (播报类型).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PromptSource {
    /// A recording of the voice library (语音), approved.
    Recording {
        /// The recording.
        voice_id: Uuid,
    },
    /// A text read by TTS (文本).
    Text {
        /// The text.
        text: String,
    },
    /// An IVR variable read by TTS (IVR变量).
    Variable {
        /// The variable.
        name: String,
    },
    /// A system variable read by TTS (系统变量).
    System {
        /// The variable.
        variable: SystemVariable,
    },
}

/// How the digits of a text are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// One by one: 123 is "one two three".
    Digits,
    /// As a value: 123 is "one hundred and twenty-three".
    Number,
}

/// The system variables a prompt can read (and a template can use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemVariable {
    /// The caller's number.
    CallerNumber,
    /// The number called.
    CalledNumber,
    /// Today's date.
    Date,
    /// The time now.
    Time,
    /// Today's weekday.
    Weekday,
    /// The caller's place in the queue (empty until a queue holds the call).
    QueuePosition,
    /// The number of the agent handling the call (empty until one does).
    AgentNumber,
}

impl SystemVariable {
    /// Every system variable.
    pub const ALL: [SystemVariable; 7] = [
        SystemVariable::CallerNumber,
        SystemVariable::CalledNumber,
        SystemVariable::Date,
        SystemVariable::Time,
        SystemVariable::Weekday,
        SystemVariable::QueuePosition,
        SystemVariable::AgentNumber,
    ];

    /// Its name in templates (`${caller_number}`).
    pub fn name(self) -> &'static str {
        match self {
            SystemVariable::CallerNumber => "caller_number",
            SystemVariable::CalledNumber => "called_number",
            SystemVariable::Date => "date",
            SystemVariable::Time => "time",
            SystemVariable::Weekday => "weekday",
            SystemVariable::QueuePosition => "queue_position",
            SystemVariable::AgentNumber => "agent_number",
        }
    }

    /// The system variable named `name`.
    pub fn from_name(name: &str) -> Option<SystemVariable> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl NodeAction {
    /// Every jump of this node: what the jump is called (for messages) and the node it names.
    pub fn jumps(&self) -> Vec<(String, &str)> {
        fn optional<'a>(what: &str, to: &'a Option<String>) -> Option<(String, &'a str)> {
            to.as_deref().map(|t| (what.to_owned(), t))
        }
        let mut jumps: Vec<(String, &str)> = Vec::new();
        match self {
            NodeAction::Playback { next, .. } => jumps.extend(optional("next", next)),
            NodeAction::Menu(menu) => {
                for option in &menu.options {
                    jumps.push((format!("key {}", option.key), option.next.as_str()));
                }
                jumps.extend(optional("failNext", &menu.fail_next));
            }
            NodeAction::Transfer(transfer) => {
                jumps.extend(optional("failureNext", &transfer.failure_next));
            }
            NodeAction::TimeCondition { rules, otherwise } => {
                for (i, rule) in rules.iter().enumerate() {
                    jumps.push((format!("rule {}", i + 1), rule.next.as_str()));
                }
                jumps.extend(optional("otherwise", otherwise));
            }
            NodeAction::CallerArea { rules, otherwise } => {
                for (i, rule) in rules.iter().enumerate() {
                    jumps.push((format!("rule {}", i + 1), rule.next.as_str()));
                }
                jumps.extend(optional("otherwise", otherwise));
            }
            NodeAction::CollectDigits(collect) => {
                jumps.extend(optional("next", &collect.next));
                jumps.extend(optional("failNext", &collect.fail_next));
            }
            NodeAction::Http(http) => {
                jumps.extend(optional("successNext", &http.success_next));
                jumps.extend(optional("failureNext", &http.failure_next));
            }
            NodeAction::Voicemail { .. } | NodeAction::Hangup { .. } => {}
        }
        jumps
    }

    /// Every prompt list of the node, with its field name.
    pub fn prompt_lists(&self) -> Vec<(&'static str, &[PromptItem])> {
        match self {
            NodeAction::Playback { prompts, .. }
            | NodeAction::Voicemail { prompts, .. }
            | NodeAction::Hangup { prompts } => vec![("prompts", prompts)],
            NodeAction::Menu(menu) => vec![
                ("prompts", &menu.prompts),
                ("invalidPrompts", &menu.invalid_prompts),
            ],
            NodeAction::Transfer(transfer) => vec![
                ("prompts", &transfer.prompts),
                ("failurePrompts", &transfer.failure_prompts),
            ],
            NodeAction::CollectDigits(collect) => vec![("prompts", &collect.prompts)],
            NodeAction::TimeCondition { .. }
            | NodeAction::CallerArea { .. }
            | NodeAction::Http(_) => Vec::new(),
        }
    }
}
