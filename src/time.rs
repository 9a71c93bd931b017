//! Times, parsed once where they enter.
//!
//! Our own times (collection times, the as-of time, period bounds) are `DateTime<Utc>` and are
//! written as RFC 3339 in whole seconds (`2026-10-31T06:00:00Z`). Times Graph gave are
//! [`GraphTime`]: parsed for comparisons, and written back exactly as Graph wrote them, so the
//! CSVs keep Graph's seven-digit fractions.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `2026-10-31T06:00:00Z`: RFC 3339, UTC, whole seconds.
pub fn secs_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Any RFC 3339 time, as UTC.
pub fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Serde for `DateTime<Utc>` as [`secs_text`]: `#[serde(with = "crate::time::secs")]`.
pub mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%Y-%m-%dT%H:%M:%SZ"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_rfc3339(&text).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time ({e})"))
        })
    }
}

/// Serde for `Option<DateTime<Utc>>` as [`secs_text`] or null.
pub mod secs_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::secs::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|text| {
            parse_rfc3339(&text).map_err(|e| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time ({e})"))
            })
        })
        .transpose()
    }
}

/// A time as Graph wrote it: the instant, and the text, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphTime {
    at: DateTime<Utc>,
    text: Box<str>,
}

impl GraphTime {
    pub fn parse(text: &str) -> Result<GraphTime, chrono::ParseError> {
        Ok(GraphTime {
            at: parse_rfc3339(text)?,
            text: text.into(),
        })
    }

    /// A time whose `text` was written from `at` (so parsing it gives `at` back): skips the
    /// parse where a reader formats the text itself.
    pub(crate) fn from_formatted(at: DateTime<Utc>, text: String) -> GraphTime {
        GraphTime {
            at,
            text: text.into(),
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The text as Graph wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for GraphTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GraphTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GraphTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GraphTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        GraphTime::parse(&text).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time ({e})"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_time_keeps_its_text() {
        let t = GraphTime::parse("2026-10-30T05:12:44.1234567Z").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-10-30T05:12:44.1234567Z\""
        );
        assert_eq!(secs_text(t.at()), "2026-10-30T05:12:44Z");
        assert!(GraphTime::parse("yesterday").is_err());
    }
}
