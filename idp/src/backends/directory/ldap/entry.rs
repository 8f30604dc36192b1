//! Person and reference entries to and from LDAP attributes (`deploy/ldap/ent-idp.schema`).
//!
//! AAF attributes travel under their own names, both ways, verbatim. What the IdP assigns
//! lives in the SDET attributes `ENTPersonLogin` and `ENTPersonGARIdentifiant` and in the
//! `ENTIdp*` attributes of the auxiliary class `ENTIdpAccount`. Every other user attribute
//! of an entry (so also `cn`, which inetOrgPerson requires) comes back in `attributes`.

use std::collections::HashMap;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::model::{
    AccountState, Attributes, Category, Credentials, EntryKey, Person, PersonKey, ReferenceEntry,
    ReferenceKind,
};
use crate::ports::BackendError;

pub const KEY: &str = "ENTIdpPersonKey";
pub const LOGIN: &str = "ENTPersonLogin";
pub const GAR_ID: &str = "ENTPersonGARIdentifiant";
pub const CATEGORY: &str = "ENTIdpCategory";
pub const STATE: &str = "ENTIdpAccountState";
pub const PASSWORD_HASH: &str = "ENTIdpPasswordHash";
pub const ACTIVATION_CODE: &str = "ENTIdpActivationCode";
pub const PASSWORD_CHANGED_AT: &str = "ENTIdpPasswordChangedAt";
pub const CREATED_ON: &str = "ENTIdpCreatedOn";
pub const UPDATED_ON: &str = "ENTIdpUpdatedOn";
pub const ENTRY_KEY: &str = "ENTIdpEntryKey";
pub const META_VALUE: &str = "ENTIdpMetaValue";
pub const OBJECT_CLASS: &str = "objectClass";

/// Attributes that are not AAF data: they never appear in `Person.attributes`.
const PERSON_OWN: [&str; 11] = [
    OBJECT_CLASS,
    KEY,
    LOGIN,
    GAR_ID,
    CATEGORY,
    STATE,
    PASSWORD_HASH,
    ACTIVATION_CODE,
    PASSWORD_CHANGED_AT,
    CREATED_ON,
    UPDATED_ON,
];

/// The organizational unit (under the base DN) of each kind of entry.
pub fn reference_ou(kind: ReferenceKind) -> &'static str {
    match kind {
        ReferenceKind::Structure => "ou=structures",
        ReferenceKind::Subject => "ou=subjects",
        ReferenceKind::Mef => "ou=mefs",
    }
}

pub const PEOPLE_OU: &str = "ou=people";

/// An entry's attributes, with names looked up case-insensitively (LDAP attribute names
/// are; servers answer with the schema's spelling, but a proxy may not).
struct Entry<'a> {
    dn: &'a str,
    attrs: HashMap<String, &'a Vec<String>>,
}

impl<'a> Entry<'a> {
    fn new(dn: &'a str, raw: &'a HashMap<String, Vec<String>>) -> Self {
        Self {
            dn,
            attrs: raw
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        }
    }

    fn corrupt(&self, what: String) -> BackendError {
        BackendError::Corrupt(format!("LDAP entry {}: {what}", self.dn))
    }

    fn optional(&self, name: &str) -> Result<Option<&'a str>, BackendError> {
        match self
            .attrs
            .get(&name.to_ascii_lowercase())
            .map(|v| v.as_slice())
        {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(self.corrupt(format!("{name} has several values"))),
        }
    }

    fn required(&self, name: &str) -> Result<&'a str, BackendError> {
        self.optional(name)?
            .ok_or_else(|| self.corrupt(format!("{name} is missing")))
    }

    /// Everything but `own`, verbatim.
    fn data(&self, raw: &HashMap<String, Vec<String>>, own: &[&str]) -> Attributes {
        raw.iter()
            .filter(|(k, _)| !own.iter().any(|o| o.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A person from its entry. A missing or undecodable IdP attribute is `Corrupt`.
pub fn decode_person(dn: &str, raw: &HashMap<String, Vec<String>>) -> Result<Person, BackendError> {
    let e = Entry::new(dn, raw);
    let key_raw = e.required(KEY)?;
    let key = PersonKey::parse(key_raw)
        .ok_or_else(|| e.corrupt(format!("{KEY} `{key_raw}` is not academie$jointure")))?;
    let cat_raw = e.required(CATEGORY)?;
    let category = Category::parse(cat_raw)
        .ok_or_else(|| e.corrupt(format!("{CATEGORY} `{cat_raw}` is not an AAF category")))?;
    let state_raw = e.required(STATE)?;
    let state = parse_state(state_raw)
        .ok_or_else(|| e.corrupt(format!("{STATE} `{state_raw}` is not understood")))?;
    let time_of = |name: &str| -> Result<Option<OffsetDateTime>, BackendError> {
        e.optional(name)?
            .map(|v| {
                parse_generalized_time(v)
                    .ok_or_else(|| e.corrupt(format!("{name} `{v}` is not a GeneralizedTime")))
            })
            .transpose()
    };
    let date_of = |name: &str| -> Result<Date, BackendError> {
        time_of(name)?
            .map(|t| t.date())
            .ok_or_else(|| e.corrupt(format!("{name} is missing")))
    };
    Ok(Person {
        key,
        category,
        login: e.required(LOGIN)?.to_owned(),
        gar_id: e.required(GAR_ID)?.to_owned(),
        state,
        attributes: e.data(raw, &PERSON_OWN),
        credentials: Credentials {
            password_hash: e.optional(PASSWORD_HASH)?.map(str::to_owned),
            activation_code: e.optional(ACTIVATION_CODE)?.map(str::to_owned),
            password_changed_at: time_of(PASSWORD_CHANGED_AT)?,
        },
        created_on: date_of(CREATED_ON)?,
        updated_on: date_of(UPDATED_ON)?,
    })
}

/// A reference entry of `kind` from its entry.
pub fn decode_reference(
    kind: ReferenceKind,
    dn: &str,
    raw: &HashMap<String, Vec<String>>,
) -> Result<ReferenceEntry, BackendError> {
    let e = Entry::new(dn, raw);
    let key_raw = e.required(ENTRY_KEY)?;
    let (academie, id) = key_raw
        .split_once('$')
        .filter(|(a, i)| !a.is_empty() && !i.is_empty())
        .ok_or_else(|| e.corrupt(format!("{ENTRY_KEY} `{key_raw}` is not academie$id")))?;
    Ok(ReferenceEntry {
        key: EntryKey::new(kind, academie, id),
        attributes: e.data(raw, &[OBJECT_CLASS, ENTRY_KEY]),
    })
}

/// The value of `ENTIdpEntryKey` for a reference key.
pub fn entry_key(key: &EntryKey) -> String {
    format!("{}${}", key.academie, key.id)
}

/// `active`, `left YYYY-MM-DD` or `locked <reason>`: one attribute, so that a state change
/// is one atomic replace.
pub fn format_state(state: &AccountState) -> String {
    match state {
        AccountState::Active => "active".into(),
        AccountState::Left { since } => format!("left {since}"),
        AccountState::Locked { reason } if reason.is_empty() => "locked".into(),
        AccountState::Locked { reason } => format!("locked {reason}"),
    }
}

pub fn parse_state(raw: &str) -> Option<AccountState> {
    let (word, rest) = raw.split_once(' ').unwrap_or((raw, ""));
    match word.to_ascii_lowercase().as_str() {
        "active" if rest.is_empty() => Some(AccountState::Active),
        "left" => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(rest.trim(), fmt)
                .ok()
                .map(|since| AccountState::Left { since })
        }
        "locked" => Some(AccountState::Locked {
            reason: rest.to_owned(),
        }),
        _ => None,
    }
}

/// GeneralizedTime in UTC, with the nanoseconds when there are any:
/// `20260907081530Z`, `20260907081530.25Z`.
pub fn format_generalized_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let frac = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

pub fn format_generalized_date(d: Date) -> String {
    format_generalized_time(d.midnight().assume_utc())
}

/// `YYYYMMDDHH[MM[SS]][.fraction](Z|±HHMM)` (RFC 4517), fractions of the last unit given
/// only for seconds (what servers and this module write).
pub fn parse_generalized_time(raw: &str) -> Option<OffsetDateTime> {
    let digits = raw.bytes().take_while(u8::is_ascii_digit).count();
    if !matches!(digits, 10 | 12 | 14) {
        return None;
    }
    let num = |from: usize, len: usize| raw.get(from..from + len)?.parse::<u32>().ok();
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4, 2)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(num(6, 2)?).ok()?).ok()?;
    let field = |from: usize| -> Option<u8> {
        if digits > from {
            u8::try_from(num(from, 2)?).ok()
        } else {
            Some(0)
        }
    };
    let (hour, minute, second) = (field(8)?, field(10)?, field(12)?);
    let mut rest = raw.get(digits..)?;
    let mut nanos = 0u32;
    if digits == 14 {
        if let Some(after) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let frac = after.get(..n.min(9))?;
            nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
            rest = after.get(n..)?;
        }
    }
    let offset = match rest {
        "Z" => UtcOffset::UTC,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1i8,
                b'-' => -1i8,
                _ => return None,
            };
            if rest.len() != 5 {
                return None;
            }
            let h = i8::try_from(num(raw.len() - 4, 2)?).ok()?;
            let m = i8::try_from(num(raw.len() - 2, 2)?).ok()?;
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC),
    )
}

/// The attributes of a person's entry, object classes included, in the order to write them
/// (values in order). The schema requires `cn`, `sn` and `ENTPersonJointure`: a person
/// without them gets `cn` = given name and surname, `sn` = the login, the jointure of its
/// key, which then come back on reading.
pub fn person_attributes(p: &Person) -> Vec<(String, Vec<String>)> {
    let mut classes = vec![
        "top",
        "person",
        "organizationalPerson",
        "inetOrgPerson",
        "ENTPerson",
    ];
    if p.category == Category::Eleve {
        classes.push("ENTEleve");
    }
    if p.attributes.iter().any(|(k, _)| k.starts_with("ENTAuxEns")) {
        classes.push("ENTAuxEnseignant");
    }
    if p.category == Category::PersRelEleve || !p.children().is_empty() {
        classes.push("ENTAuxPersRelEleve");
    }
    classes.push("ENTIdpAccount");
    let one = |v: &str| vec![v.to_owned()];
    let mut out: Vec<(String, Vec<String>)> = vec![
        (
            OBJECT_CLASS.into(),
            classes.into_iter().map(str::to_owned).collect(),
        ),
        (KEY.into(), one(&p.key.to_string())),
        (LOGIN.into(), one(&p.login)),
        (GAR_ID.into(), one(&p.gar_id)),
        (CATEGORY.into(), one(p.category.as_str())),
        (STATE.into(), one(&format_state(&p.state))),
        (
            CREATED_ON.into(),
            one(&format_generalized_date(p.created_on)),
        ),
        (
            UPDATED_ON.into(),
            one(&format_generalized_date(p.updated_on)),
        ),
    ];
    let c = &p.credentials;
    if let Some(h) = &c.password_hash {
        out.push((PASSWORD_HASH.into(), one(h)));
    }
    if let Some(code) = &c.activation_code {
        out.push((ACTIVATION_CODE.into(), one(code)));
    }
    if let Some(at) = c.password_changed_at {
        out.push((
            PASSWORD_CHANGED_AT.into(),
            one(&format_generalized_time(at)),
        ));
    }
    if p.attributes.values("cn").is_empty() {
        out.push(("cn".into(), one(p.display_name().trim())));
    }
    if p.attributes.values("sn").is_empty() {
        out.push(("sn".into(), one(&p.login)));
    }
    if p.attributes.values("ENTPersonJointure").is_empty() {
        out.push(("ENTPersonJointure".into(), one(&p.key.jointure)));
    }
    out.extend(p.attributes.iter().map(|(k, v)| (k.to_owned(), v.to_vec())));
    out
}

/// The attributes of a reference entry, object classes included.
pub fn reference_attributes(e: &ReferenceEntry) -> Vec<(String, Vec<String>)> {
    let (class, id_attr) = match e.key.kind {
        ReferenceKind::Structure => ("ENTEtablissement", "ENTStructureJointure"),
        ReferenceKind::Subject => ("ENTMatiere", "ENTMatJointure"),
        ReferenceKind::Mef => ("ENTMef", "ENTMefJointure"),
    };
    let mut classes = vec!["top".to_owned()];
    if e.key.kind == ReferenceKind::Structure {
        classes.push("ENTStructure".into());
    }
    classes.push(class.into());
    classes.push("ENTIdpEntry".into());
    let mut out = vec![
        (OBJECT_CLASS.to_owned(), classes),
        (ENTRY_KEY.to_owned(), vec![entry_key(&e.key)]),
    ];
    if e.attributes.values(id_attr).is_empty() {
        out.push((id_attr.to_owned(), vec![e.key.id.clone()]));
    }
    out.extend(e.attributes.iter().map(|(k, v)| (k.to_owned(), v.to_vec())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn states_round_trip() {
        for s in [
            AccountState::Active,
            AccountState::Left {
                since: date!(2026 - 09 - 07),
            },
            AccountState::Locked {
                reason: "vol de mot de passe".into(),
            },
            AccountState::Locked {
                reason: String::new(),
            },
        ] {
            assert_eq!(parse_state(&format_state(&s)), Some(s));
        }
        for bad in ["", "frozen", "active now", "left yesterday"] {
            assert_eq!(parse_state(bad), None, "{bad}");
        }
    }

    #[test]
    fn generalized_time_round_trips_and_reads_other_forms() {
        let t = datetime!(2026-09-07 08:15:30.25 +02:00);
        let s = format_generalized_time(t);
        assert_eq!(s, "20260907061530.25Z");
        assert_eq!(parse_generalized_time(&s), Some(t));
        let t = datetime!(2026-09-07 08:15:30.123456789 UTC);
        assert_eq!(parse_generalized_time(&format_generalized_time(t)), Some(t));
        assert_eq!(
            parse_generalized_time("2026090708+0200"),
            Some(datetime!(2026-09-07 06:00 UTC))
        );
        assert_eq!(
            format_generalized_date(date!(2026 - 09 - 07)),
            "20260907000000Z"
        );
        for bad in [
            "",
            "2026",
            "20261307000000Z",
            "20260907081530",
            "20260907081530.Z",
        ] {
            assert_eq!(parse_generalized_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_idp_attribute_is_corrupt() {
        let mut raw: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in [
            (KEY, "02$1"),
            (LOGIN, "lea.dupont"),
            (GAR_ID, "g"),
            (CATEGORY, "Eleve"),
            (STATE, "active"),
            (CREATED_ON, "20260907000000Z"),
            (UPDATED_ON, "20260907000000Z"),
            ("sn", "DUPONT"),
        ] {
            raw.insert(k.to_ascii_lowercase(), vec![v.to_owned()]);
        }
        let p = decode_person("x", &raw).unwrap();
        assert_eq!(p.login, "lea.dupont");
        assert_eq!(p.surname(), "DUPONT");
        assert_eq!(p.attributes.len(), 1);
        raw.remove(&GAR_ID.to_ascii_lowercase());
        assert!(matches!(
            decode_person("x", &raw),
            Err(BackendError::Corrupt(m)) if m.contains(GAR_ID)
        ));
    }
}
