//! Data-quality findings: stable kebab-case codes and, in one place, the words for each.
//! Codes are a contract: tools that read evidence.json may branch on them, so they never change.

use crate::evidence::Finding;

/// How many examples a finding carries; the CSVs hold every user.
pub const EXAMPLES_CAP: usize = 20;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    RequiredSourceMissing,
    BreakGlassGroupNotCollected,
    MissingFromRegistrationReport,
    RegistrationRowWithoutUser,
    UnknownMethod,
    ExpiredException,
    ExceptionUserNotFound,
    BreakGlassNotFound,
    BreakGlassNotPhishingResistant,
    StaleRegistrationReport,
    AccountEnabledMissing,
    MicrosoftFlagDisagreement,
    OptionalSourceMissing,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::RequiredSourceMissing => "required-source-missing",
            Code::BreakGlassGroupNotCollected => "break-glass-group-not-collected",
            Code::MissingFromRegistrationReport => "missing-from-registration-report",
            Code::RegistrationRowWithoutUser => "registration-row-without-user",
            Code::UnknownMethod => "unknown-method",
            Code::ExpiredException => "expired-exception",
            Code::ExceptionUserNotFound => "exception-user-not-found",
            Code::BreakGlassNotFound => "break-glass-not-found",
            Code::BreakGlassNotPhishingResistant => "break-glass-not-phishing-resistant",
            Code::StaleRegistrationReport => "stale-registration-report",
            Code::AccountEnabledMissing => "account-enabled-missing",
            Code::MicrosoftFlagDisagreement => "microsoft-flag-disagreement",
            Code::OptionalSourceMissing => "optional-source-missing",
        }
    }

    pub fn severity(self) -> &'static str {
        match self {
            Code::RequiredSourceMissing | Code::BreakGlassGroupNotCollected => "error",
            Code::MicrosoftFlagDisagreement | Code::OptionalSourceMissing => "info",
            _ => "warning",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Code::RequiredSourceMissing => "A required source was not collected",
            Code::BreakGlassGroupNotCollected => "Break-glass group members were not collected",
            Code::MissingFromRegistrationReport => {
                "In-scope users missing from the registration report"
            }
            Code::RegistrationRowWithoutUser => "Registration report rows with no matching user",
            Code::UnknownMethod => "Unknown authentication method strings",
            Code::ExpiredException => "Expired exceptions not honoured",
            Code::ExceptionUserNotFound => "Exceptions naming no listed user",
            Code::BreakGlassNotFound => "Configured break-glass accounts not found",
            Code::BreakGlassNotPhishingResistant => {
                "Break-glass accounts without a phishing-resistant method"
            }
            Code::StaleRegistrationReport => "Registration report rows older than allowed",
            Code::AccountEnabledMissing => "Users without the accountEnabled property",
            Code::MicrosoftFlagDisagreement => {
                "Microsoft's isMfaRegistered disagrees with the method rule"
            }
            Code::OptionalSourceMissing => "An optional source was not collected",
        }
    }

    pub fn what_to_do(self) -> &'static str {
        match self {
            Code::RequiredSourceMissing => {
                "Collect again: organization, users and the registration report are all needed for a result."
            }
            Code::BreakGlassGroupNotCollected => {
                "Grant GroupMember.Read.All and collect again, or list the accounts in break_glass.user_ids."
            }
            Code::MissingFromRegistrationReport => {
                "They count as not registered. Check whether the accounts are new (the report lags by hours) or never signed in; register a method or disable the account."
            }
            Code::RegistrationRowWithoutUser => {
                "Usually users deleted between the two reads; collect again if the count is large."
            }
            Code::UnknownMethod => {
                "They do not qualify. If Microsoft added a strong method, add its string to control.qualifying_methods."
            }
            Code::ExpiredException => {
                "Renew the exception with a new approval and expiry date, or remediate the user."
            }
            Code::ExceptionUserNotFound => "Remove the exception or correct its upn or user_id.",
            Code::BreakGlassNotFound => {
                "Correct break_glass.user_ids or break_glass.upns: an account that does not exist protects nothing."
            }
            Code::BreakGlassNotPhishingResistant => {
                "Register a FIDO2 security key or certificate for each emergency access account, as Microsoft recommends."
            }
            Code::StaleRegistrationReport => {
                "The report refreshes within hours; if rows stay stale, check the tenant's report processing and collect again."
            }
            Code::AccountEnabledMissing => {
                "Export /users with $select including accountEnabled and userType; without it disabled users count as in scope."
            }
            Code::MicrosoftFlagDisagreement => {
                "Informational: Microsoft counts methods the control does not (or the reverse); the control's figure follows the method rule."
            }
            Code::OptionalSourceMissing => {
                "Grant the permission named in the error and collect again; the figure does not depend on it."
            }
        }
    }

    /// A finding whose detail starts with its count in agreeing words:
    /// `counted_finding(2, ("row is", "rows are"), "stale.", ..)` reads "2 rows are stale.".
    pub fn counted_finding(
        self,
        count: u64,
        (one, many): (&str, &str),
        rest: &str,
        examples: Vec<String>,
    ) -> Finding {
        self.finding(
            count,
            format!("{} {rest}", counted(count, one, many)),
            examples,
        )
    }

    pub fn finding(self, count: u64, detail: String, examples: Vec<String>) -> Finding {
        Finding {
            code: self.as_str().to_string(),
            severity: self.severity().to_string(),
            title: self.title().to_string(),
            detail,
            what_to_do: self.what_to_do().to_string(),
            count,
            examples: examples.into_iter().take(EXAMPLES_CAP).collect(),
        }
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
