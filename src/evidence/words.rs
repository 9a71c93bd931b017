//! Numbers and times in words, as the package writes them: counts with thousands separators and
//! agreeing words, percentages floored to two decimals, hours with two decimals, names cut for
//! display.

use crate::evaluate::findings::DISPLAY_LIMIT;

/// A count with the words that agree with it: `counted(1, "user has", "users have")` is
/// "1 user has", `counted(12000, ...)` "12,000 users have". Findings, conclusions and the PDF
/// read it.
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// An integer with thousands separators, as the PDF prints counts: 1234567 is "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Floored percentage with two decimals: 94.996 % prints as `94.99`, never `95.00`.
pub fn percent_floor(registered: u64, in_scope: u64) -> String {
    if in_scope == 0 {
        return "0.00".to_string();
    }
    let basis = (registered as u128 * 10_000) / in_scope as u128;
    format!("{}.{:02}", basis / 100, basis % 100)
}

/// Basis points as a percentage with two decimals: 9500 is `95.00`.
pub fn basis_points_text(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

/// A name as the report shows it: whole up to [`DISPLAY_LIMIT`] characters, else its start and
/// an ellipsis (the `text-truncated` finding says so; the CSVs keep it whole).
pub fn display(text: &str) -> String {
    match text.char_indices().nth(DISPLAY_LIMIT) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Hours with two decimals, e.g. `49.50`.
pub fn hours_text(seconds: i64) -> String {
    let hundredths = seconds.max(0) * 100 / 3600;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// `950 of 1000 in-scope users registered, 95.00 %`, or that no user was in scope.
pub fn figure_in_words(p: &crate::evidence::PointInTime) -> String {
    if p.in_scope == 0 {
        "no user was in scope".to_string()
    } else {
        format!(
            "{} of {} in-scope users registered, {} %",
            p.registered, p.in_scope, p.percent
        )
    }
}

/// A phrase as the start of a sentence: its first letter upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{counted, thousands};

    #[test]
    fn counts_agree_with_their_words() {
        assert_eq!(counted(1u64, "gap was", "gaps were"), "1 gap was");
        assert_eq!(counted(0u64, "gap was", "gaps were"), "0 gaps were");
        assert_eq!(counted(12u64, "gap was", "gaps were"), "12 gaps were");
        assert_eq!(counted(1_000_000u64, "user", "users"), "1,000,000 users");
    }

    #[test]
    fn thousands_are_separated() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (950_570, "950,570"),
        ];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
