//! Phone numbers: one stored form (E.164, `+86…` for China), accepting the manual's forms —
//! mobile numbers with or without a leading 0, landlines with their area code.

use crate::validate::FieldError;

/// Normalizes `input` to E.164. Chinese mobile (`13800138000`, `013800138000`), landline with
/// area code (`02161234567`, `075512345678`) and international (`+…`, `00…`) forms are
/// accepted; spaces and dashes are ignored.
pub fn normalize(field: &str, input: &str) -> Result<String, FieldError> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let invalid = || {
        FieldError::new(
            field,
            "is not a phone number (mobile, landline with area code, or +country…)",
        )
    };
    let (international, digits) = if let Some(rest) = cleaned.strip_prefix('+') {
        (true, rest.to_owned())
    } else if let Some(rest) = cleaned.strip_prefix("00") {
        (true, rest.to_owned())
    } else {
        (false, cleaned.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    if international {
        return if (8..=15).contains(&digits.len()) {
            Ok(format!("+{digits}"))
        } else {
            Err(invalid())
        };
    }
    let national = digits.strip_prefix('0').unwrap_or(&digits);
    let mobile = national.len() == 11 && national.starts_with('1') && !national.starts_with("10");
    // Area codes start with 2–9, except Beijing's 10.
    let landline = digits.starts_with('0')
        && ((national.starts_with("10") && national.len() == 10)
            || (!national.starts_with('1') && (9..=11).contains(&national.len())));
    if mobile || landline {
        Ok(format!("+86{national}"))
    } else {
        Err(invalid())
    }
}

/// The number as the manual writes it: mobile with a leading 0, landline with its area code.
pub fn national_form(e164: &str) -> String {
    match e164.strip_prefix("+86") {
        Some(national) => format!("0{national}"),
        None => e164.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manuals_forms_normalize() {
        for (input, expected) in [
            ("13800138000", "+8613800138000"),
            ("013800138000", "+8613800138000"),
            ("138-0013-8000", "+8613800138000"),
            ("02161234567", "+862161234567"),
            ("075512345678", "+8675512345678"),
            ("01055556666", "+861055556666"),
            ("+14155550100", "+14155550100"),
            ("0014155550100", "+14155550100"),
        ] {
            assert_eq!(
                normalize("number", input).as_deref(),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for input in [
            "",
            "abc",
            "12345",
            "2161234567",
            "+1",
            "0",
            "1380013800",
            "+1234567890123456",
        ] {
            assert!(normalize("number", input).is_err(), "{input}");
        }
    }

    #[test]
    fn national_form_adds_the_leading_zero() {
        assert_eq!(national_form("+8613800138000"), "013800138000");
        assert_eq!(national_form("+862161234567"), "02161234567");
        assert_eq!(national_form("+14155550100"), "+14155550100");
    }
}
