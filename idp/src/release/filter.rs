//! Per-service filtering and value formats: only the attributes the service's registry
//! entry lists in `releases`, under their wire names, each value formatted as asked.

use federation_metadata::model::{Release, Service, ValueFormat};

use super::resolve::{Resolved, Value};

/// One attribute as released to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The name on the wire.
    pub name: String,
    /// The values, formatted (one value when the release joins them).
    pub values: Vec<String>,
}

fn format(value: &Value, format: ValueFormat) -> String {
    let dmy = time::macros::format_description!("[day]/[month]/[year]");
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    match (value, format) {
        (Value::Date(d), ValueFormat::DateDdMmYyyy) => d.format(dmy).unwrap_or_default(),
        (Value::Date(d), _) => d.format(iso).unwrap_or_default(),
        (Value::Text(t), ValueFormat::Lowercase) => t.to_lowercase(),
        (Value::Text(t), ValueFormat::Uppercase) => t.to_uppercase(),
        (Value::Text(t), _) => t.clone(),
    }
}

fn release_one(r: &Release, resolved: &Resolved) -> Option<Released> {
    let mut values: Vec<String> = resolved
        .values(&r.source)
        .iter()
        .map(|v| format(v, r.format))
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return None;
    }
    if let Some(sep) = &r.join_with {
        values = vec![values.join(sep)];
    }
    Some(Released {
        name: r.name.clone(),
        values,
    })
}

/// What `service` receives: its `releases`, in order, those without a value left out.
pub fn release(service: &Service, resolved: &Resolved) -> Vec<Released> {
    service
        .releases
        .iter()
        .filter_map(|r| release_one(r, resolved))
        .collect()
}

/// The first value of catalogue id `id`, as is (CAS `cas:user`, SAML NameID values).
pub fn user_value(id: &str, resolved: &Resolved) -> Option<String> {
    resolved
        .values(id)
        .first()
        .map(|v| format(v, ValueFormat::AsIs))
        .filter(|v| !v.is_empty())
}
