//! The GraphQL shape of an IVR flow's definition (its conversion to and from the domain's
//! `FlowDefinition` is in `ivr_convert`). Each object is both an output and an input
//! (`…Input`), so a console reads a flow, edits it and sends it back as it came. A node carries
//! its `type` and the settings object of that type; the other settings objects stay null.

use async_graphql::{Enum, InputObject, SimpleObject, ID};

/// A flow's definition: entry node, variables and nodes.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "IvrDefinitionInput")]
pub struct IvrDefinition {
    /// Key of the entry node (入口节点).
    pub entry: String,
    /// IVR variables (IVR变量).
    pub variables: Vec<IvrVariableObject>,
    /// Nodes.
    pub nodes: Vec<IvrNodeObject>,
}

/// An IVR variable.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "IvrVariable", input_name = "IvrVariableInput")]
pub struct IvrVariableObject {
    /// Name: letters, digits and underscores.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A node's type (节点类型).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvrNodeType {
    /// 语音播报.
    Playback,
    /// 语音导航菜单.
    Menu,
    /// 转接.
    Transfer,
    /// 时间判断.
    TimeCondition,
    /// 来电归属地判断.
    CallerArea,
    /// 留言箱.
    Voicemail,
    /// 数字采集.
    CollectDigits,
    /// HTTP interaction.
    Http,
    /// Hang up.
    Hangup,
}

/// One node: its type and the settings of that type.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "IvrNode", input_name = "IvrNodeInput")]
pub struct IvrNodeObject {
    /// Key in the flow, named by jumps.
    pub key: String,
    /// Name (节点名称).
    pub name: String,
    /// Number (节点编号), may be empty.
    pub number: String,
    /// Type.
    pub r#type: IvrNodeType,
    /// Settings of a `PLAYBACK` node.
    pub playback: Option<PlaybackSettings>,
    /// Settings of a `MENU` node.
    pub menu: Option<MenuSettings>,
    /// Settings of a `TRANSFER` node.
    pub transfer: Option<TransferSettings>,
    /// Settings of a `TIME_CONDITION` node.
    pub time_condition: Option<TimeConditionSettings>,
    /// Settings of a `CALLER_AREA` node.
    pub caller_area: Option<CallerAreaSettings>,
    /// Settings of a `VOICEMAIL` node.
    pub voicemail: Option<VoicemailSettings>,
    /// Settings of a `COLLECT_DIGITS` node.
    pub collect_digits: Option<CollectDigitsSettings>,
    /// Settings of an `HTTP` node.
    pub http: Option<HttpSettings>,
    /// Settings of a `HANGUP` node.
    pub hangup: Option<HangupSettings>,
}

/// What a prompt item plays (播报类型).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// A recording of the voice library (语音).
    Recording,
    /// A text read by TTS (文本).
    Text,
    /// An IVR variable read by TTS.
    IvrVariable,
    /// A system variable read by TTS.
    SystemVariable,
}

/// How digits are read (播报方式).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitReading {
    /// One by one.
    Digits,
    /// As a number.
    Number,
}

/// A system variable.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvrSystemVariable {
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
    /// The caller's place in the queue.
    QueuePosition,
    /// The handling agent's number.
    AgentNumber,
}

/// One item of a prompt list.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "PromptItem", input_name = "PromptItemInput")]
pub struct PromptItemObject {
    /// What it plays.
    pub kind: PromptKind,
    /// The recording (`RECORDING`).
    pub voice_id: Option<ID>,
    /// The text (`TEXT`).
    pub text: Option<String>,
    /// The IVR variable (`IVR_VARIABLE`).
    pub variable: Option<String>,
    /// The system variable (`SYSTEM_VARIABLE`).
    pub system_variable: Option<IvrSystemVariable>,
    /// How digits are read.
    pub reading: DigitReading,
    /// Times it plays (播报循环次数).
    pub loops: i32,
}

/// A playback node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "PlaybackSettingsInput")]
pub struct PlaybackSettings {
    /// Prompts.
    pub prompts: Vec<PromptItemObject>,
    /// Next node; null hangs up.
    pub next: Option<String>,
}

/// A menu key.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "MenuOption", input_name = "MenuOptionInput")]
pub struct MenuOptionObject {
    /// The key: `0`–`9`, `*` or `#`.
    pub key: String,
    /// The node it goes to.
    pub next: String,
}

/// A menu node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "MenuSettingsInput")]
pub struct MenuSettings {
    /// Prompts.
    pub prompts: Vec<PromptItemObject>,
    /// Keys.
    pub options: Vec<MenuOptionObject>,
    /// Seconds to wait for a key.
    pub timeout_seconds: i32,
    /// Played after an invalid key.
    pub invalid_prompts: Vec<PromptItemObject>,
    /// Timeouts and invalid keys allowed.
    pub max_attempts: i32,
    /// Node after too many; null hangs up.
    pub fail_next: Option<String>,
}

/// Where a transfer goes.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// An extension (转分机).
    Extension,
    /// A queue (转队列).
    Queue,
    /// The extension number a variable holds (变量转接).
    Variable,
}

/// A transfer node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "TransferSettingsInput")]
pub struct TransferSettings {
    /// Played while the target rings.
    pub prompts: Vec<PromptItemObject>,
    /// Target kind.
    pub target: TransferKind,
    /// The extension or queue.
    pub target_id: Option<ID>,
    /// The variable (`VARIABLE`).
    pub variable: Option<String>,
    /// Played when the transfer fails.
    pub failure_prompts: Vec<PromptItemObject>,
    /// Node after a failure; null hangs up.
    pub failure_next: Option<String>,
}

/// A time rule.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "TimeRule", input_name = "TimeRuleInput")]
pub struct TimeRuleObject {
    /// Start, `HH:MM` (inclusive).
    pub start: String,
    /// End, `HH:MM` (exclusive; before the start it spans midnight).
    pub end: String,
    /// Weekdays, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<i32>,
    /// Node while it holds.
    pub next: String,
}

/// A time-condition node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "TimeConditionSettingsInput")]
pub struct TimeConditionSettings {
    /// Rules, in order.
    pub rules: Vec<TimeRuleObject>,
    /// Node when none holds; null hangs up.
    pub otherwise: Option<String>,
}

/// A caller-area rule.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "AreaRule", input_name = "AreaRuleInput")]
pub struct AreaRuleObject {
    /// Regions: provinces (`广东省`) or cities (`广东省深圳市`).
    pub regions: Vec<String>,
    /// Node for callers from them.
    pub next: String,
}

/// A caller-area node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "CallerAreaSettingsInput")]
pub struct CallerAreaSettings {
    /// Rules, in order.
    pub rules: Vec<AreaRuleObject>,
    /// Node when none matches; null hangs up.
    pub otherwise: Option<String>,
}

/// A voicemail node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "VoicemailSettingsInput")]
pub struct VoicemailSettings {
    /// Prompts before recording.
    pub prompts: Vec<PromptItemObject>,
    /// Longest message in seconds.
    pub max_seconds: i32,
}

/// A digit-collection node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "CollectDigitsSettingsInput")]
pub struct CollectDigitsSettings {
    /// Prompts.
    pub prompts: Vec<PromptItemObject>,
    /// Fewest digits.
    pub min_digits: i32,
    /// Most digits.
    pub max_digits: i32,
    /// Key ending the input (`#`), or null.
    pub terminator: Option<String>,
    /// Seconds to wait for each key.
    pub timeout_seconds: i32,
    /// Variable the digits go into.
    pub variable: String,
    /// Node after a good input; null hangs up.
    pub next: Option<String>,
    /// Node after too few digits; null hangs up.
    pub fail_next: Option<String>,
}

/// An HTTP method.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvrHttpMethod {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A field of the answer copied into a variable.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(name = "HttpOutput", input_name = "HttpOutputInput")]
pub struct HttpOutputObject {
    /// Dot-separated path in the JSON answer.
    pub field: String,
    /// The variable.
    pub variable: String,
}

/// An HTTP node's settings; `${name}` in the URL and body is a variable's value.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "HttpSettingsInput")]
pub struct HttpSettings {
    /// Method.
    pub method: IvrHttpMethod,
    /// URL template.
    pub url: String,
    /// Body template (POST).
    pub body: String,
    /// Longest wait in milliseconds (100–10000).
    pub timeout_ms: i32,
    /// Fields copied into variables.
    pub outputs: Vec<HttpOutputObject>,
    /// Node after a 2xx JSON answer; null hangs up.
    pub success_next: Option<String>,
    /// Node after a failure; null hangs up.
    pub failure_next: Option<String>,
}

/// A hang-up node's settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "HangupSettingsInput")]
pub struct HangupSettings {
    /// Prompts before the release.
    pub prompts: Vec<PromptItemObject>,
}
