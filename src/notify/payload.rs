//! An alert shaped for each receiver, as the receivers document their input:
//!
//! - Teams (an incoming webhook, or a Workflows "when a Teams webhook request is received" flow):
//!   a `message` whose one attachment is an Adaptive Card
//!   (`application/vnd.microsoft.card.adaptive`, `contentUrl` null, the card in `content`).
//! - Slack (an incoming webhook): `text`, the fallback shown in notifications, plus `blocks`
//!   (header, sections with `mrkdwn` text and fields, a context line), within Block Kit's limits.
//! - `json`: the alert as plain JSON, for any other receiver.
//! - mail: a subject and a plain-text body.

use serde_json::{Value, json};

use super::Alert;
use crate::evaluate::ControlResult;
use crate::time::secs_text;

/// The Adaptive Card schema version used: every element here exists since 1.0, and 1.2 is what
/// Teams documents for incoming webhooks.
pub const ADAPTIVE_CARD_VERSION: &str = "1.2";
pub const ADAPTIVE_CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// Block Kit limits: a header's text, a section's text, a field's text, fields per section.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
const SLACK_FIELDS_MAX: usize = 10;

/// The Teams message: one Adaptive Card.
pub fn teams(alert: &Alert) -> Value {
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": alert.title(),
            "size": "Medium",
            "weight": "Bolder",
            "color": if alert.is_bad_news() { "Attention" } else { "Good" },
            "wrap": true,
        }),
        json!({ "type": "TextBlock", "text": alert.summary(), "wrap": true }),
        json!({
            "type": "FactSet",
            "facts": alert
                .facts()
                .into_iter()
                .map(|f| json!({ "title": f.label, "value": f.value }))
                .collect::<Vec<_>>(),
        }),
    ];
    if let Some(error) = alert.error_text() {
        body.push(
            json!({ "type": "TextBlock", "text": "Error", "weight": "Bolder", "wrap": true }),
        );
        body.push(
            json!({ "type": "TextBlock", "text": error, "fontType": "Monospace", "wrap": true }),
        );
    }
    let (step, command) = alert.next_step();
    body.push(json!({ "type": "TextBlock", "text": step, "wrap": true }));
    if let Some(command) = command {
        body.push(
            json!({ "type": "TextBlock", "text": command, "fontType": "Monospace", "wrap": true }),
        );
    }
    body.push(json!({
        "type": "TextBlock",
        "text": format!("{}, control ID-01", crate::tool_id()),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": ADAPTIVE_CARD_VERSION,
                "body": body,
            },
        }],
    })
}

/// The Slack message: the fallback `text` and the blocks.
pub fn slack(alert: &Alert) -> Value {
    let mark = if alert.is_bad_news() {
        ":red_circle:"
    } else {
        ":large_green_circle:"
    };
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": cut(&alert.title(), SLACK_HEADER_MAX) },
        }),
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&format!("{mark} {}", escape(&alert.summary())), SLACK_TEXT_MAX) },
        }),
    ];
    let fields: Vec<Value> = alert
        .facts()
        .into_iter()
        .take(SLACK_FIELDS_MAX)
        .map(|f| {
            json!({
                "type": "mrkdwn",
                "text": cut(&format!("*{}*\n{}", f.label, escape(&f.value)), SLACK_FIELD_MAX),
            })
        })
        .collect();
    blocks.push(json!({ "type": "section", "fields": fields }));
    if let Some(error) = alert.error_text() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&format!("*Error*\n```{}```", escape(&error)), SLACK_TEXT_MAX) },
        }));
    }
    let (step, command) = alert.next_step();
    let mut next = escape(&step);
    if let Some(command) = command {
        next.push_str(&format!("\n`{}`", escape(&command)));
    }
    blocks.push(json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": cut(&next, SLACK_TEXT_MAX) },
    }));
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("{}, control ID-01", crate::tool_id()) }],
    }));
    json!({
        "text": format!("{}. {}", alert.title(), alert.summary()),
        "blocks": blocks,
    })
}

/// The alert as plain JSON: every figure as a value, for receivers of any other kind.
pub fn json(alert: &Alert) -> Value {
    let common = json!({
        "tool": crate::tool_id(),
        "control": "ID-01",
        "kind": alert.kind().as_str(),
        "title": alert.title(),
        "summary": alert.summary(),
    });
    let Value::Object(mut out) = common else {
        unreachable!("json! of an object literal is an object")
    };
    let specific = match alert {
        Alert::Control(a) => json!({
            "tenant": { "id": a.tenant_id, "name": a.tenant_name },
            "as_of": secs_text(a.as_of),
            "sequence": a.sequence,
            "result": a.result.as_str(),
            "previous_result": a.previous.map(ControlResult::as_str),
            "registered": a.registered,
            "in_scope": a.in_scope,
            "percent": a.percent,
            "threshold_percent": a.threshold_percent,
            "changes": a.changes.as_ref().map(|c| json!({
                "joiners": c.joiners,
                "joiners_sample": c.joiners_sample,
                "newly_unregistered": c.newly_unregistered,
                "newly_unregistered_sample": c.newly_unregistered_sample,
            })),
            "next_step": alert.next_step().0,
            "package_command": a.package_command,
        }),
        Alert::CollectionFailed(f) => json!({
            "tenant": f.tenant.as_ref().map(|t| json!({ "id": t })),
            "attempted_at": secs_text(f.attempted_at),
            "last_snapshot_at": f.last_snapshot_at.map(secs_text),
            "error": f.error,
            "next_step": f.what_to_do,
        }),
    };
    if let Value::Object(specific) = specific {
        out.extend(specific);
    }
    Value::Object(out)
}

/// A mail's subject and plain-text body.
pub fn email(alert: &Alert) -> (String, String) {
    (format!("[mfa-evidence] {}", alert.title()), alert.text())
}

/// Slack reads `&`, `<` and `>` as markup (`<!channel>` would ping a whole channel), so text from
/// the tenant goes in escaped, as Slack documents.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_is_escaped_and_cut() {
        assert_eq!(escape("<!channel> & co"), "&lt;!channel&gt; &amp; co");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
