//! Serde for calendar dates as `YYYY-MM-DD`.
//!
//! Written as strings (JSON, postcard) and read from a string or from a bare TOML date
//! (`start = 2025-09-01`): administrators will write both, and toml hands a bare date to a
//! visitor as a one-entry map, which the derive for `time::Date` would not accept.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserializer, Serializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::Date;

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Formats `date` as `YYYY-MM-DD`.
pub fn format(date: Date) -> String {
    date.format(FORMAT).unwrap_or_else(|_| date.to_string())
}

/// Parses `YYYY-MM-DD`.
pub fn parse(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s.trim(), FORMAT)
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Date;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a date YYYY-MM-DD")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
        parse(v).map_err(|e| E::custom(format!("invalid date {v:?} (expected YYYY-MM-DD): {e}")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
        // toml's datetime: a single entry whose value is the datetime's text.
        let Some((_key, value)) = map.next_entry::<String, String>()? else {
            return Err(de::Error::custom("expected a date YYYY-MM-DD"));
        };
        if value.len() != 10 {
            return Err(de::Error::custom(format!(
                "expected a date YYYY-MM-DD, found {value:?}"
            )));
        }
        self.visit_str(&value)
    }
}

/// For `Date` fields: `#[serde(with = "dates::required")]`.
pub mod required {
    use super::*;

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        d.deserialize_str(DateVisitor)
    }
}

/// For `Option<Date>` fields: `#[serde(default, with = "dates::option")]`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => s.serialize_some(&format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        struct OptVisitor;
        impl<'de> Visitor<'de> for OptVisitor {
            type Value = Option<Date>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a date YYYY-MM-DD or nothing")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_str(DateVisitor).map(Some)
            }
        }
        d.deserialize_option(OptVisitor)
    }
}
