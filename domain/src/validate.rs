//! Field validation shared by aggregates. A failure names the field.

use serde::{Deserialize, Serialize};

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The input field, as named in the API.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    /// A failure of `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A required text of at most `max` characters, trimmed.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    optional_text(field, value, max)
}

/// An optional text of at most `max` characters, trimmed.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A login name: 1..=32 ASCII letters, digits, `_`, `-`, `.` or `@`.
pub fn login_name(field: &str, value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 32 {
        return Err(FieldError::new(field, "must be 1 to 32 characters"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(FieldError::new(
            field,
            "may contain only letters, digits, '_', '-', '.' and '@'",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(required_text("name", "  A  ", 5), Ok("A".into()));
        assert!(required_text("name", "   ", 5).is_err());
        assert!(required_text("name", "abcdef", 5).is_err());
        assert!(optional_text("remark", "a\u{0}b", 5).is_err());
        assert_eq!(required_text("name", "坐席一组", 4), Ok("坐席一组".into()));
    }

    #[test]
    fn login_names_are_restricted() {
        assert!(login_name("account", "agent_01").is_ok());
        assert!(login_name("account", "a b").is_err());
        assert!(login_name("account", "").is_err());
        assert!(login_name("account", &"x".repeat(33)).is_err());
    }
}
