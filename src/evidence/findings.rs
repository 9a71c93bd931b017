//! The words of the data-quality findings, in one place: each code's title and what to do, and
//! the sentence that states a finding's count. The findings themselves are computed, as typed
//! facts, by `evaluate::findings`.

use super::Finding;
use super::words::{counted, thousands};
use crate::evaluate::findings::{self as facts, Code, Detail};

pub fn title(code: Code) -> &'static str {
    match code {
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
        Code::UserTypeMissing => "Users without the userType property",
        Code::UsersSelectIncomplete => "The /users export's $select leaves out scope properties",
        Code::TextTruncated => "Names too long to show whole",
        Code::MicrosoftFlagDisagreement => {
            "Microsoft's isMfaRegistered disagrees with the method rule"
        }
        Code::OptionalSourceMissing => "An optional source was not collected",
    }
}

pub fn what_to_do(code: Code) -> &'static str {
    match code {
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
        Code::UserTypeMissing => {
            "Export /users with $select including userType; without it a guest with no registration row counts as a member."
        }
        Code::UsersSelectIncomplete => {
            "Export /users again with a $select that includes accountEnabled and userType (as in /v1.0/users?$select=id,userPrincipalName,displayName,accountEnabled,userType); without them disabled users and guests can count as in scope."
        }
        Code::TextTruncated => {
            "Nothing to do for the figure: the report shows the start of each; population.csv and raw/ hold the text whole."
        }
        Code::MicrosoftFlagDisagreement => {
            "Informational: Microsoft counts methods the control does not (or the reverse); the control's figure follows the method rule."
        }
        Code::OptionalSourceMissing => {
            "For a live collection, grant the permission named in the error and collect again; for an import, export that source into the folder too. The figure does not depend on it."
        }
    }
}

/// The sentence that states a finding: its count in agreeing words, and what it means.
pub fn detail(f: &facts::Finding) -> String {
    let n = f.count;
    let counted_as =
        |one: &str, many: &str, rest: &str| format!("{} {rest}", counted(n, one, many));
    match (&f.code, &f.detail) {
        (Code::RequiredSourceMissing | Code::OptionalSourceMissing, Detail::NotCollected(list)) => {
            let sep = if f.code == Code::RequiredSourceMissing {
                ", "
            } else {
                "; "
            };
            format!("Not collected: {}.", list.join(sep))
        }
        (Code::BreakGlassGroupNotCollected, Detail::Group(group)) => format!(
            "break_glass.group_id is {group} but the snapshot holds no members of that group, so break-glass accounts cannot be told apart from other users."
        ),
        (Code::MissingFromRegistrationReport, _) => counted_as(
            "in-scope user has no row in the registration report and counts",
            "in-scope users have no row in the registration report and count",
            "as not registered.",
        ),
        (Code::RegistrationRowWithoutUser, _) => counted_as(
            "report row matches no user from /users and is",
            "report rows match no user from /users and are",
            "not counted.",
        ),
        (Code::UnknownMethod, _) => counted_as(
            "method string unknown to this version appears",
            "method strings unknown to this version appear",
            "in the report; kept, and not qualifying.",
        ),
        (Code::ExpiredException, _) => counted_as(
            "exception had expired at the as-of time; not honoured, its user is",
            "exceptions had expired at the as-of time; not honoured, their users are",
            "evaluated like everyone else.",
        ),
        (Code::ExceptionUserNotFound, _) => counted_as(
            "configured exception names",
            "configured exceptions name",
            "no user from /users.",
        ),
        (Code::BreakGlassNotFound, _) => counted_as(
            "configured break-glass account is",
            "configured break-glass accounts are",
            "not among the users listed.",
        ),
        (Code::BreakGlassNotPhishingResistant, _) => counted_as(
            "break-glass account has",
            "break-glass accounts have",
            "no FIDO2, passkey or certificate method registered.",
        ),
        (Code::StaleRegistrationReport, detail) => {
            let hours = match detail {
                Detail::MaxAgeHours(h) => *h,
                _ => 0,
            };
            counted_as(
                "report row was",
                "report rows were",
                &format!("last updated more than {hours} hours before collection."),
            )
        }
        (Code::AccountEnabledMissing, _) => counted_as(
            "user came without accountEnabled and was",
            "users came without accountEnabled and were",
            "treated as enabled.",
        ),
        (Code::UserTypeMissing, detail) => {
            let from_report = match detail {
                Detail::FromReport(n) => *n,
                _ => 0,
            };
            format!(
                "{} without userType from /users; the registration report's userType was used for {}, and the rest, whose type is not in the export, are kept in scope as a member would be (a guest among them is counted, never left out).",
                counted(n, "user came", "users came"),
                thousands(from_report)
            )
        }
        (Code::UsersSelectIncomplete, Detail::Select(select)) => format!(
            "/users was exported with $select={}, which leaves out {}.",
            select.join(","),
            f.examples.join(" and ")
        ),
        (Code::TextTruncated, detail) => {
            let limit = match detail {
                Detail::MaxChars(l) => *l,
                _ => 0,
            };
            counted_as(
                "name is",
                "names are",
                &format!("longer than {limit} characters and shown cut in the report."),
            )
        }
        (Code::MicrosoftFlagDisagreement, _) => format!(
            "For {} Microsoft's isMfaRegistered differs from the method rule.",
            counted(n, "in-scope user", "in-scope users")
        ),
        // Codes whose facts always carry their detail; a mismatch states the count alone.
        (code, _) => format!("{} ({})", title(*code), counted(n, "item", "items")),
    }
}

/// A finding as evidence.json carries it.
pub fn finding(f: &facts::Finding) -> Finding {
    let examples = match &f.detail {
        Detail::Methods(counts) => counts
            .iter()
            .map(|(m, n)| format!("{m} ({})", counted(*n, "user", "users")))
            .take(facts::EXAMPLES_CAP)
            .collect(),
        _ => f.examples.clone(),
    };
    Finding {
        code: f.code,
        severity: f.code.severity(),
        title: title(f.code).to_string(),
        detail: detail(f),
        what_to_do: what_to_do(f.code).to_string(),
        count: f.count,
        examples,
    }
}
