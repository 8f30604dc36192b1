//! Directory attributes as the AAF and the ENT LDAP schema name them: a name maps to an
//! ordered list of values. Keeping the source attributes verbatim means nothing the académie
//! sent is lost (RGPD export) and an LDAP backend can store them under the same names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Multi-valued attributes, keyed by their AAF / SDET name (`sn`, `ENTEleveClasses`...).
/// Empty values (`<value/>`) are dropped on import, so an attribute present here has at
/// least one non-empty value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes(BTreeMap<String, Vec<String>>);

impl Attributes {
    pub fn new() -> Self {
        Self::default()
    }

    /// All values of `name`, empty when absent.
    pub fn values(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first value of `name`, if any.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).first().map(String::as_str)
    }

    /// Replaces every value of `name` (AAF `replace` semantics). Empty strings are
    /// dropped; replacing with nothing removes the attribute.
    pub fn replace(&mut self, name: &str, values: Vec<String>) {
        let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_owned(), values);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl FromIterator<(String, Vec<String>)> for Attributes {
    fn from_iter<T: IntoIterator<Item = (String, Vec<String>)>>(iter: T) -> Self {
        let mut a = Attributes::new();
        for (k, v) in iter {
            a.replace(&k, v);
        }
        a
    }
}

/// Splits an AAF composite value (`9001$2NDE A`) into its `$`-separated parts. Parts may be
/// empty (`12 rue des Lilas$$$`).
pub fn composite(value: &str) -> Vec<&str> {
    value.split('$').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_drops_empty_values_and_removes_attribute() {
        let mut a = Attributes::new();
        a.replace("mail", vec!["a@b".into(), String::new()]);
        assert_eq!(a.values("mail"), ["a@b".to_string()]);
        a.replace("mail", vec![String::new()]);
        assert!(a.values("mail").is_empty());
        assert!(a.is_empty());
    }

    #[test]
    fn composite_keeps_empty_parts() {
        assert_eq!(composite("12 rue$$$"), vec!["12 rue", "", "", ""]);
    }
}
