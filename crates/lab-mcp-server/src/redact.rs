//! Masking of personal and payment data (seed §7.5): tool results carry masked values only.

/// `**** **** **** 1111`: the last four digits of a card number.
pub(crate) fn mask_card(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let last_four = &digits[digits.len().saturating_sub(4)..];
    format!("**** **** **** {last_four}")
}

/// `a***@example.com`.
pub(crate) fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `***-1234`: the last four digits of a phone number.
pub(crate) fn mask_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("***-{}", &digits[digits.len().saturating_sub(4)..])
}

/// `***-**-6789`: the last four characters of a national ID number.
pub(crate) fn mask_national_id(id: &str) -> String {
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    format!("***-**-{}", &digits[digits.len().saturating_sub(4)..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_last_digits() {
        assert_eq!(mask_card("4111111111111111"), "**** **** **** 1111");
        assert_eq!(mask_card("12"), "**** **** **** 12");
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_email("nobody"), "***");
        assert_eq!(mask_phone("+1-555-0100-1234"), "***-1234");
        assert_eq!(mask_national_id("123-45-6789"), "***-**-6789");
    }
}
