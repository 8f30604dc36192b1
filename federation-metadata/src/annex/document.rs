//! The annex's content, in the structure of the federation agreement's annex (ATRIUM
//! annex 2): one function per part, each producing neutral blocks.

use time::Date;

use crate::model::{
    AgreementTerms, AttributeSource, Contact, MemberStatus, NameIdFormat, PartyRole, Protocol,
    Registry, Service, ServiceUrlPattern, SignatureAlgorithm, ValueFormat,
};

/// A piece of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// The whole annex of `r`, statuses computed at its issue date.
pub fn build(r: &Registry) -> Vec<Block> {
    let mut b = Vec::new();
    let on = r.issued_at.date();
    b.push(Block::Heading(
        1,
        format!(
            "Annexe à la convention de fédération — {}",
            r.federation.name
        ),
    ));
    b.push(Block::Para(format!(
        "Domaine de confiance « {} ». Version émise le {}, valable jusqu'au {}. Ce document est produit à partir du registre signé de la fédération : il en reprend exactement le contenu.",
        r.federation.id,
        fr_date(on),
        fr_date(r.valid_until.date()),
    )));
    if !r.federation.description.is_empty() {
        b.push(Block::Para(r.federation.description.clone()));
    }
    parties(&mut b, r, on);
    perimeter(&mut b, r);
    idp_commitments(&mut b, r);
    attributes(&mut b, r);
    sp_commitments(&mut b, r);
    mutual(&mut b, r);
    duration(&mut b, r, on);
    costs(&mut b, r);
    b
}

fn parties(b: &mut Vec<Block>, r: &Registry, on: Date) {
    let f = &r.federation;
    b.push(Block::Heading(2, "1. Identification des parties".into()));
    let mut items = vec![format!(
        "Opérateur de la fédération : {} ({})",
        f.operator.shown_name(),
        f.operator.url
    )];
    for p in &f.parties {
        let role = match p.role {
            PartyRole::Collectivity => "Collectivité",
            PartyRole::Academie => "Académie",
            PartyRole::Draaf => "DRAAF",
            PartyRole::Operator => "Opérateur",
            PartyRole::Other => "Partie",
        };
        let by = if p.represented_by.is_empty() {
            String::new()
        } else {
            format!(", représentée par {}", p.represented_by)
        };
        items.push(format!("{role} : {}{by}", p.name));
    }
    let idp = &r.identity_provider;
    items.push(format!(
        "Fournisseur d'identité : {} — {} (entityID {})",
        idp.name,
        idp.organisation.shown_name(),
        idp.entity_id
    ));
    b.push(Block::List(items));
    b.push(Block::Para("Fournisseurs de services membres :".into()));
    b.push(Block::Table {
        head: vec![
            "Service".into(),
            "Organisation".into(),
            "Protocole".into(),
            "Identifiant technique".into(),
            format!("Statut au {}", fr_date(on)),
        ],
        rows: r
            .services
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.organisation.shown_name().to_owned(),
                    protocol(s).into(),
                    technical_id(s),
                    status_fr(s.status_at(on)),
                ]
            })
            .collect(),
    });
}

fn perimeter(b: &mut Vec<Block>, r: &Registry) {
    let f = &r.federation;
    b.push(Block::Heading(2, "2. Périmètre de la fédération".into()));
    if !f.perimeter.description.is_empty() {
        b.push(Block::Para(f.perimeter.description.clone()));
    }
    if !f.perimeter.academies.is_empty() {
        b.push(Block::Para(format!(
            "Académies : {}.",
            f.perimeter.academies.join(", ")
        )));
    }
    if !f.perimeter.establishments.is_empty() {
        b.push(Block::Table {
            head: vec!["UAI".into(), "Établissement".into()],
            rows: f
                .perimeter
                .establishments
                .iter()
                .map(|e| vec![e.uai.clone(), e.name.clone()])
                .collect(),
        });
    }
    list_section(b, "Normes techniques retenues", &f.standards);
    list_section(b, "Règles de sécurité", &f.security_rules);
    list_section(b, "Gouvernance de la fédération", &f.governance);
}

fn idp_commitments(b: &mut Vec<Block>, r: &Registry) {
    let idp = &r.identity_provider;
    let c = &idp.commitments;
    b.push(Block::Heading(
        2,
        "3. Engagements du fournisseur d'identité".into(),
    ));
    b.push(Block::Para(format!(
        "{} ({}) s'engage à suivre les règles communes de la fédération et :",
        idp.name,
        idp.organisation.shown_name()
    )));
    let mut items = vec![
        format!("Identifiant unique : {}", c.identifier_policy),
        format!("Journalisation : {}", c.logging),
        format!("Traçabilité : {}", c.traceability),
        format!("Conservation : {}", c.retention),
    ];
    if !c.data_protection.is_empty() {
        items.push(format!("Protection des données : {}", c.data_protection));
    }
    if !c.security.is_empty() {
        items.push(format!("Sécurité : {}", c.security));
    }
    items.extend(c.additional.iter().cloned());
    b.push(Block::List(items));
    contacts(b, &idp.contacts);
}

fn attributes(b: &mut Vec<Block>, r: &Registry) {
    b.push(Block::Heading(
        2,
        "4. Identité et attributs produits".into(),
    ));
    b.push(Block::Para(
        "Catalogue des attributs que le fournisseur d'identité peut produire ; aucun service ne reçoit d'attribut hors de ce catalogue, ni d'attribut qui ne lui est pas listé ci-dessous.".into(),
    ));
    b.push(Block::Table {
        head: vec![
            "Attribut".into(),
            "Description".into(),
            "Origine (annuaire)".into(),
            "Multivalué".into(),
            "Donnée personnelle".into(),
        ],
        rows: r
            .attributes
            .iter()
            .map(|a| {
                vec![
                    a.id.clone(),
                    a.description.clone(),
                    source_fr(&a.derives_from),
                    yes_no(a.multi_valued),
                    yes_no(a.personal_data),
                ]
            })
            .collect(),
    });
    for s in &r.services {
        b.push(Block::Heading(
            3,
            format!("{} — identité et attributs", s.name),
        ));
        b.push(Block::Para(identity_line(s)));
        if s.releases.is_empty() {
            b.push(Block::Para("Aucun attribut transmis.".into()));
            continue;
        }
        b.push(Block::Table {
            head: vec![
                "Nom transmis".into(),
                "Attribut source".into(),
                "Format".into(),
                "Obligatoire".into(),
                "Finalité".into(),
            ],
            rows: s
                .releases
                .iter()
                .map(|rel| {
                    vec![
                        rel.name.clone(),
                        rel.source.clone(),
                        format_fr(rel.format, rel.join_with.as_deref()),
                        yes_no(rel.required),
                        rel.purpose.clone(),
                    ]
                })
                .collect(),
        });
    }
}

fn sp_commitments(b: &mut Vec<Block>, r: &Registry) {
    b.push(Block::Heading(
        2,
        "5. Engagements des fournisseurs de services".into(),
    ));
    for s in &r.services {
        b.push(Block::Heading(3, s.name.clone()));
        b.push(Block::Para(format!(
            "{} ({})",
            s.organisation.shown_name(),
            s.organisation.url
        )));
        let c = &s.commitments;
        let mut items = Vec::new();
        for (label, text) in [
            ("Protection des données", &c.data_protection),
            ("Sécurité", &c.security),
            ("Hébergement", &c.hosting),
            ("Conservation", &c.retention),
            (
                "Notification des violations de données",
                &c.breach_notification,
            ),
        ] {
            if !text.is_empty() {
                items.push(format!("{label} : {text}"));
            }
        }
        items.extend(c.additional.iter().cloned());
        if items.is_empty() {
            b.push(Block::Para("Engagements à compléter.".into()));
        } else {
            b.push(Block::List(items));
        }
        contacts(b, &s.contacts);
    }
}

fn mutual(b: &mut Vec<Block>, r: &Registry) {
    b.push(Block::Heading(2, "6. Engagements mutuels".into()));
    if r.federation.mutual_commitments.is_empty() {
        b.push(Block::Para("Aucun engagement mutuel particulier.".into()));
    } else {
        b.push(Block::List(r.federation.mutual_commitments.clone()));
    }
}

fn duration(b: &mut Vec<Block>, r: &Registry, on: Date) {
    b.push(Block::Heading(
        2,
        "7. Durée, renouvellement et résiliation".into(),
    ));
    b.push(Block::Para(format!(
        "Conditions par défaut pour tout nouveau membre : {}",
        terms_fr(&r.federation.default_terms)
    )));
    b.push(Block::Para(
        "Un retrait prend effet à la plus tardive de la date demandée et de la date de la demande augmentée du préavis ; lorsque la convention le prévoit, l'accès reste ouvert jusqu'au 31 août qui termine l'année scolaire en cours à cette date.".into(),
    ));
    b.push(Block::Table {
        head: vec![
            "Service".into(),
            "Demande".into(),
            "Signature".into(),
            "Début".into(),
            "Conditions".into(),
            "Renouvellements".into(),
            "Retrait".into(),
            format!("Statut au {}", fr_date(on)),
        ],
        rows: r
            .services
            .iter()
            .map(|s| {
                let a = &s.agreement;
                let renewals = a
                    .renewals
                    .iter()
                    .map(|x| format!("{} (+{} mois)", fr_date(x.on), x.months))
                    .collect::<Vec<_>>()
                    .join(" ; ");
                let leave = match (&a.termination, a.termination_end()) {
                    (Some(t), Some(end)) => format!(
                        "demandé le {} pour le {} ; accès jusqu'au {}",
                        fr_date(t.requested_on),
                        fr_date(t.on),
                        fr_date(end)
                    ),
                    _ => "—".into(),
                };
                vec![
                    s.name.clone(),
                    opt_date(a.requested_on),
                    opt_date(a.signed_on),
                    opt_date(a.start),
                    terms_fr(&a.terms),
                    if renewals.is_empty() {
                        "—".into()
                    } else {
                        renewals
                    },
                    leave,
                    status_fr(s.status_at(on)),
                ]
            })
            .collect(),
    });
}

fn costs(b: &mut Vec<Block>, r: &Registry) {
    b.push(Block::Heading(2, "8. Coûts".into()));
    if !r.federation.costs.is_empty() {
        b.push(Block::Para(r.federation.costs.clone()));
    }
    let items: Vec<String> = r
        .services
        .iter()
        .filter(|s| !s.costs.is_empty())
        .map(|s| format!("{} : {}", s.name, s.costs))
        .collect();
    if !items.is_empty() {
        b.push(Block::List(items));
    }
}

fn list_section(b: &mut Vec<Block>, title: &str, items: &[String]) {
    if !items.is_empty() {
        b.push(Block::Para(format!("{title} :")));
        b.push(Block::List(items.to_vec()));
    }
}

fn contacts(b: &mut Vec<Block>, contacts: &[Contact]) {
    if contacts.is_empty() {
        return;
    }
    b.push(Block::List(
        contacts
            .iter()
            .map(|c| {
                let name = if c.name.is_empty() {
                    String::new()
                } else {
                    format!("{}, ", c.name)
                };
                format!("Contact {} : {name}{}", c.kind.label_fr(), c.email)
            })
            .collect(),
    ));
}

fn identity_line(s: &Service) -> String {
    match &s.protocol {
        Protocol::Saml(saml) => {
            let name_id = match saml.name_id_format {
                NameIdFormat::Transient => "identifiant transitoire (NameID transient)".to_owned(),
                NameIdFormat::Persistent => {
                    "identifiant opaque stable (NameID persistent)".to_owned()
                }
                NameIdFormat::Unspecified | NameIdFormat::Email => format!(
                    "valeur de l'attribut {} (NameID {})",
                    saml.name_id_attribute.as_deref().unwrap_or("?"),
                    if saml.name_id_format == NameIdFormat::Email {
                        "emailAddress"
                    } else {
                        "unspecified"
                    }
                ),
            };
            let signed = match (saml.sign_assertion, saml.sign_response) {
                (true, true) => "assertion et réponse signées",
                (true, false) => "assertion signée",
                (false, _) => "réponse signée",
            };
            format!(
                "SAML 2.0 ({}) : la personne est désignée par {name_id} ; {signed} ({}){}.",
                saml.entity_id,
                match saml.signature_algorithm {
                    SignatureAlgorithm::RsaSha256 => "RSA-SHA256",
                    SignatureAlgorithm::RsaSha512 => "RSA-SHA512",
                    SignatureAlgorithm::RsaSha1 => "RSA-SHA1",
                },
                if saml.encrypt_assertion {
                    ", assertion chiffrée"
                } else {
                    ""
                }
            )
        }
        Protocol::Cas(cas) => format!(
            "CAS : cas:user = attribut {} ; adresses de service autorisées : {}.",
            cas.user_attribute,
            cas.service_patterns
                .iter()
                .map(pattern_fr)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn pattern_fr(p: &ServiceUrlPattern) -> String {
    match p {
        ServiceUrlPattern::Exact(u) => u.clone(),
        ServiceUrlPattern::Prefix(u) => format!("{u}…"),
        ServiceUrlPattern::Regex(r) => format!("expression {r}"),
    }
}

fn protocol(s: &Service) -> &'static str {
    match s.protocol {
        Protocol::Saml(_) => "SAML 2.0",
        Protocol::Cas(_) => "CAS",
    }
}

fn technical_id(s: &Service) -> String {
    match &s.protocol {
        Protocol::Saml(saml) => saml.entity_id.clone(),
        Protocol::Cas(cas) => cas
            .service_patterns
            .first()
            .map(pattern_fr)
            .unwrap_or_default(),
    }
}

fn terms_fr(t: &AgreementTerms) -> String {
    let renewal = match t.tacit_renewal_months {
        Some(m) => format!("reconduction tacite par périodes de {}", months_fr(m)),
        None => "sans reconduction tacite".into(),
    };
    format!(
        "durée initiale {}, {renewal}, préavis de {}{}.",
        months_fr(t.initial_duration_months),
        months_fr(t.notice_months),
        if t.access_until_end_of_school_year {
            ", accès maintenu jusqu'à la fin de l'année scolaire en cas de retrait"
        } else {
            ""
        }
    )
}

fn months_fr(m: u32) -> String {
    if m % 12 == 0 && m > 0 {
        let y = m / 12;
        format!("{y} an{}", if y > 1 { "s" } else { "" })
    } else {
        format!("{m} mois")
    }
}

fn status_fr(s: MemberStatus) -> String {
    match s {
        MemberStatus::Pending => "demande en cours".into(),
        MemberStatus::NotStarted => "approuvé, pas encore commencé".into(),
        MemberStatus::Active => "actif".into(),
        MemberStatus::Leaving { until } => format!("en retrait, accès jusqu'au {}", fr_date(until)),
        MemberStatus::Gone { since } => format!("retiré depuis le {}", fr_date(since)),
    }
}

fn source_fr(s: &AttributeSource) -> String {
    match s {
        AttributeSource::Constant(v) => format!("constante « {v} »"),
        AttributeSource::Aaf(v) => format!("attribut AAF {v}"),
        AttributeSource::Login => "identifiant de connexion".into(),
        AttributeSource::GarId => "identifiant GAR (ENTPersonGARIdentifiant)".into(),
        AttributeSource::Jointure => "clé de jointure AAF (ENTPersonJointure)".into(),
        AttributeSource::Surname => "nom".into(),
        AttributeSource::GivenName => "prénom".into(),
        AttributeSource::DisplayName => "nom affiché".into(),
        AttributeSource::BirthDate => "date de naissance".into(),
        AttributeSource::Email => "adresse électronique".into(),
        AttributeSource::Profiles => "profils nationaux".into(),
        AttributeSource::ProfilesNumeric => "profils nationaux (codes numériques)".into(),
        AttributeSource::StructureUai => "UAI des structures de rattachement".into(),
        AttributeSource::Classes => "classes".into(),
        AttributeSource::Groups => "groupes".into(),
        AttributeSource::Mefs => "MEF".into(),
        AttributeSource::Functions => "fonctions".into(),
        AttributeSource::PostalCode => "code postal".into(),
    }
}

fn format_fr(f: ValueFormat, join: Option<&str>) -> String {
    let base = match f {
        ValueFormat::AsIs => "tel quel",
        ValueFormat::DateDdMmYyyy => "date jj/mm/aaaa",
        ValueFormat::DateIso => "date aaaa-mm-jj",
        ValueFormat::Lowercase => "minuscules",
        ValueFormat::Uppercase => "majuscules",
    };
    match join {
        Some(sep) => format!("{base}, valeurs jointes par « {sep} »"),
        None => base.to_owned(),
    }
}

fn yes_no(b: bool) -> String {
    if b { "oui" } else { "non" }.into()
}

fn opt_date(d: Option<Date>) -> String {
    d.map(fr_date).unwrap_or_else(|| "—".into())
}

/// `dd/mm/yyyy`, the form French legal texts use.
pub fn fr_date(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}
