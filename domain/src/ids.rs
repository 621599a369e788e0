//! Deterministic stream ids for things whose natural key must be unique, so that two
//! concurrent creations of the same key meet on one stream and one is refused.

use uuid::Uuid;

/// Namespace of callcore's name-based ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1c_07e5_4f0a_4d8e_9b1e_63a1_1c0c_07e5);

/// The id of the enterprise whose account code is `code` (case-insensitive).
pub fn enterprise_id(code: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("enterprise:{}", code.to_lowercase()).as_bytes(),
    )
}

/// The id of sub-account `account` (case-insensitive) of enterprise `enterprise_id`.
pub fn account_id(enterprise_id: Uuid, account: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("account:{enterprise_id}:{}", account.to_lowercase()).as_bytes(),
    )
}

/// The id of the platform operator's enterprise.
pub fn platform_enterprise_id() -> Uuid {
    enterprise_id(PLATFORM_CODE)
}

/// The account code of the platform operator's enterprise.
pub const PLATFORM_CODE: &str = "platform";

/// The sub-account name of the platform operator.
pub const OPERATOR_ACCOUNT: &str = "admin";

/// The id of extension `number` of enterprise `enterprise_id`.
pub fn extension_id(enterprise_id: Uuid, number: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("extension:{enterprise_id}:{}", number.trim()).as_bytes(),
    )
}

/// The stream id of the agent seat of extension `extension_id` (the extension's own stream
/// holds its settings and bindings).
pub fn agent_id(extension_id: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("agent:{extension_id}").as_bytes())
}

/// The id of the number whose E.164 form is `e164`.
pub fn number_id(e164: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("number:{e164}").as_bytes())
}

/// The id of the inbound route whose entry (E.164 number or IP) is `entry`.
pub fn route_id(entry: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("route:{entry}").as_bytes())
}
