//! Synthetic AAF deliveries, shaped like the académies' files, for benchmarks and load
//! tests: establishments with classes, subjects, MEF, pupils linked to parents, teachers
//! and other staff, names with accents and many homonyms (login collisions). Deterministic
//! for a given seed. Optionally a small Delta for the next day.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::Date;

use super::filename::format_date;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub persons: u64,
    pub out: PathBuf,
    pub academie: String,
    pub seed: u64,
    /// Date of the Complet; the Delta (if any) is the day after.
    pub date: Date,
    /// Records per file part.
    pub part_size: u64,
    /// Also write a Delta (about 1% of pupils change class, 0.2% leave, a few arrive).
    pub delta: bool,
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    pub files: Vec<PathBuf>,
    pub pupils: u64,
    pub parents: u64,
    pub staff: u64,
    pub structures: u64,
    pub bytes: u64,
}

#[rustfmt::skip]
const GIVEN: &[&str] = &[
    "Léa", "Hugo", "Zoé", "Chloé", "Aïssatou", "Noé", "Inès", "Maëlys", "Lucas", "Louis",
    "Gabriel", "Jules", "Adam", "Arthur", "Raphaël", "Emma", "Jade", "Louise", "Alice", "Lina",
    "Mia", "Anaïs", "Éloïse", "Théo", "Mathéo", "Timéo", "Nathan", "Ethan", "Sacha", "Mohamed",
    "Yasmine", "Fatoumata", "Mamadou", "Sofiane", "Chaïma", "Héloïse", "Clément", "Célia",
    "Jérôme", "Hélène", "Françoise", "François", "Benoît", "Gaëlle", "Joël", "Noël", "Agnès",
    "Anne-Sophie", "Jean-Baptiste", "Marie-Ève", "Océane", "Manon", "Camille", "Paul", "Victor",
    "Léon", "Côme", "Nour", "Ilyès", "Zoë", "Loïc", "Maël", "Aurélien", "Bérénice", "Solène",
    "Capucine", "Léna", "Margaux", "Axel", "Enzo", "Kylian", "Rayan", "Amir", "Ibrahim", "Nina",
    "Sarah", "Clara", "Eva", "Rose", "Ambre",
];

#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "MARTIN", "BERNARD", "DUPONT", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
    "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID", "BERTRAND",
    "MOREL", "FOURNIER", "GIRARD", "BONNET", "FRANÇOIS", "MERCIER", "BLANC", "GUÉRIN", "BOYER",
    "GARNIER", "CHEVALIER", "FAURE", "ANDRÉ", "GAUTHIER", "GARCÍA-LÓPEZ", "N'DIAYE", "DIALLO",
    "TRAORÉ", "N'GUYEN", "O'CONNOR", "DE LA FONTAINE", "LE GALL", "LE BRIS", "KERVÉLLA",
    "BENOÎT", "MÜLLER", "SCHNEIDER", "DA SILVA", "DOS SANTOS", "FERREIRA", "RODRIGUEZ",
    "MARTINEZ", "HAMIDI", "BENALI", "EL AMRANI", "BOUCHARD", "CÔTÉ", "GAGNÉ", "LÉVÊQUE",
    "PERRIN", "MORIN", "CLÉMENT", "ROUSSEL", "VINCENT", "MASSON", "LEMAIRE", "DUVAL", "JOLY",
    "GAILLARD", "BRUN", "ROCHE", "ROY", "NOËL", "MEYER", "LUCAS", "HENRY", "RIVIÈRE", "BARBIER",
    "ARNAUD", "MARCHAND", "COLIN", "RENARD", "AUBERT", "GIRAUD", "LEGRAND", "BRUNET", "SCHMITT",
    "ROGER", "CARON", "PICARD", "RÉMY", "LACROIX", "FABRE", "DUMAS", "HUBERT", "DUFOUR",
    "BLANCHARD", "GILLET", "DESCHAMPS", "POIRIER", "CHARPENTIER", "LOPEZ",
];

const SUBJECTS: &[(&str, &str)] = &[
    ("013000", "MATHEMATIQUES"),
    ("030201", "FRANCAIS"),
    ("062800", "SCIENCES PHYSIQUES ET CHIMIQUES"),
    ("040300", "HISTOIRE-GEOGRAPHIE"),
    ("030602", "ANGLAIS LV1"),
    ("031202", "ESPAGNOL LV2"),
    ("031502", "ALLEMAND LV2"),
    ("061300", "SCIENCES DE LA VIE ET DE LA TERRE"),
    ("070300", "TECHNOLOGIE"),
    ("080100", "ARTS PLASTIQUES"),
    ("080400", "EDUCATION MUSICALE"),
    ("100100", "EDUCATION PHYSIQUE ET SPORTIVE"),
];

/// (MEF code, label, level, class prefix)
const MEFS: &[(&str, &str, &str, &str)] = &[
    ("10010012110", "6EME", "6EME", "6E"),
    ("10110001110", "5EME", "5EME", "5E"),
    ("10210001110", "4EME", "4EME", "4E"),
    ("10310019110", "3EME", "3EME", "3E"),
    ("20010018110", "2NDE GENERALE ET TECHNO", "2NDE", "2NDE "),
    ("20111001110", "1ERE GENERALE", "1ERE", "1E "),
    ("20212001110", "TERMINALE GENERALE", "TLE", "TLE "),
];

const CLASSES_PER_LEVEL: u64 = 4;

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Writes numbered parts of one category, opening a new file every `part_size` records.
struct PartWriter<'a> {
    opts: &'a GenerateOptions,
    kind: &'static str,
    date: Date,
    category: &'static str,
    part: u32,
    in_part: u64,
    current: Option<BufWriter<File>>,
    summary: &'a mut GenerateSummary,
}

impl<'a> PartWriter<'a> {
    fn new(
        opts: &'a GenerateOptions,
        kind: &'static str,
        date: Date,
        category: &'static str,
        summary: &'a mut GenerateSummary,
    ) -> Self {
        Self {
            opts,
            kind,
            date,
            category,
            part: 0,
            in_part: 0,
            current: None,
            summary,
        }
    }

    fn open(&mut self) -> io::Result<()> {
        let name = format!(
            "ENTGEN_{}_{}_{}_{:04}.xml",
            self.kind,
            format_date(self.date),
            self.category,
            self.part
        );
        let path = self.opts.out.join(name);
        let mut w = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
        let (d, m, y) = (
            self.date.day(),
            u8::from(self.date.month()),
            self.date.year(),
        );
        write!(
            w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<ficAlimMENESR>\n<!-- versionSDET=\"Annexe 4bis version 6.4\" -->\n<!-- codeAcademieExport=\"{}\" -->\n<!-- degre=\"2D\" -->\n<!-- dateGenerationExport=\"{d:02}/{m:02}/{y}\" -->\n",
            self.opts.academie
        )?;
        self.summary.files.push(path);
        self.current = Some(w);
        Ok(())
    }

    /// The writer for the next record.
    fn next(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.current.is_some() && self.in_part >= self.opts.part_size.max(1) {
            self.close()?;
            self.part += 1;
        }
        if self.current.is_none() {
            self.open()?;
            self.in_part = 0;
        }
        self.in_part += 1;
        self.current
            .as_mut()
            .ok_or_else(|| io::Error::other("no open part"))
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some(mut w) = self.current.take() {
            w.write_all(b"</ficAlimMENESR>\n")?;
            w.flush()?;
        }
        Ok(())
    }

    /// Closes the last part; a category with no record still gets one empty file.
    fn finish(mut self) -> io::Result<()> {
        if self.current.is_none() && self.part == 0 {
            self.open()?;
        }
        self.close()
    }
}

fn add_start(w: &mut impl Write, cat_attr: &str, cat: &str, id: &str) -> io::Result<()> {
    write!(
        w,
        "<addRequest>\n<operationalAttributes><attr name=\"{cat_attr}\"><value>{cat}</value></attr></operationalAttributes>\n<identifier><id>{id}</id></identifier>\n<attributes>\n"
    )
}

fn attr(w: &mut impl Write, name: &str, values: &[&str]) -> io::Result<()> {
    write!(w, "<attr name=\"{name}\">")?;
    if values.is_empty() {
        w.write_all(b"<value/>")?;
    }
    for v in values {
        write!(w, "<value>{}</value>", esc(v))?;
    }
    w.write_all(b"</attr>\n")
}

fn add_end(w: &mut impl Write) -> io::Result<()> {
    w.write_all(b"</attributes>\n</addRequest>\n")
}

/// The shape of the synthetic population.
struct Population {
    pupils: u64,
    parents: u64,
    staff: u64,
    structures: u64,
}

impl Population {
    /// 70% pupils, 24% parents, 6% staff: pupils share parents (siblings), so a region's
    /// accounts are mostly pupils; every pupil has one or two persons in charge.
    fn new(persons: u64) -> Self {
        let pupils = persons * 70 / 100;
        let staff = (persons * 6 / 100).max(u64::from(persons > 0));
        let parents = persons - pupils - staff;
        let structures = (pupils / 800).max(1);
        Self {
            pupils,
            parents,
            staff,
            structures,
        }
    }

    fn structure_id(s: u64) -> String {
        format!("{}", 100_000 + s)
    }

    fn pupil_id(i: u64) -> String {
        format!("{}", 10_000_000 + i)
    }

    fn parent_id(i: u64) -> String {
        format!("{}", 30_000_000 + i)
    }

    fn staff_id(i: u64) -> String {
        format!("{}", 50_000_000 + i)
    }

    /// Pupils are spread evenly over the structures, in order.
    fn structure_of_pupil(&self, i: u64) -> u64 {
        i * self.structures / self.pupils.max(1)
    }

    /// Parents of a pupil: one for everyone, a second one for every other pupil.
    fn parents_of(&self, i: u64) -> Vec<u64> {
        if self.parents == 0 {
            return Vec::new();
        }
        let first = i * self.parents / self.pupils.max(1);
        let mut out = vec![first];
        if i % 2 == 0 && self.parents > 1 {
            out.push((first + 1) % self.parents);
        }
        out
    }

    fn structure_of_staff(&self, i: u64) -> u64 {
        i % self.structures
    }
}

fn mef_of_structure(s: u64) -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
    // One structure in three is a lycée, the others are collèges.
    if s % 3 == 2 {
        MEFS.get(4..).unwrap_or_default()
    } else {
        MEFS.get(..4).unwrap_or_default()
    }
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.get(rng.random_range(0..list.len()))
        .copied()
        .unwrap_or("X")
}

/// Writes the delivery into `opts.out` (created if needed).
pub fn generate(opts: &GenerateOptions) -> io::Result<GenerateSummary> {
    std::fs::create_dir_all(&opts.out)?;
    let pop = Population::new(opts.persons);
    let mut summary = GenerateSummary {
        pupils: pop.pupils,
        parents: pop.parents,
        staff: pop.staff,
        structures: pop.structures,
        ..GenerateSummary::default()
    };
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let date = opts.date;

    // Structures.
    let mut w = PartWriter::new(opts, "Complet", date, "EtabEducNat", &mut summary);
    for s in 0..pop.structures {
        let id = Population::structure_id(s);
        let lycee = s % 3 == 2;
        let uai = format!("{:07}{}", 130_000 + s, char::from(b'A' + (s % 26) as u8));
        let name = if lycee {
            format!(
                "LYC$LYCEE {} {}$MARSEILLE",
                pick(&mut rng, GIVEN).to_uppercase(),
                pick(&mut rng, SURNAMES)
            )
        } else {
            format!(
                "CLG$COLLEGE {} {}$AUBAGNE",
                pick(&mut rng, GIVEN).to_uppercase(),
                pick(&mut rng, SURNAMES)
            )
        };
        let f = w.next()?;
        add_start(f, "categorieStructure", "EtabEducNat", &id)?;
        attr(f, "ENTStructureJointure", &[&id])?;
        attr(f, "ENTStructureUAI", &[&uai])?;
        attr(f, "ENTStructureNomCourant", &[&name])?;
        attr(
            f,
            "ENTStructureTypeStruct",
            &[if lycee {
                "LYCEE GENERAL ET TECHNOLOGIQUE"
            } else {
                "COLLEGE"
            }],
        )?;
        attr(
            f,
            "ENTStructureSIREN",
            &[&format!("19{:012}", 130_000_000 + s)],
        )?;
        attr(f, "ENTEtablissementContrat", &["PU"])?;
        attr(f, "ENTServAcAcademie", &["AIX-MARSEILLE"])?;
        attr(f, "street", &["12 rue des Écoles"])?;
        attr(f, "postalCode", &["13001"])?;
        attr(f, "l", &["MARSEILLE"])?;
        add_end(f)?;
    }
    w.finish()?;

    // Subjects and MEF.
    let mut w = PartWriter::new(opts, "Complet", date, "MatiereEducNat", &mut summary);
    for (code, label) in SUBJECTS {
        let f = w.next()?;
        add_start(f, "categorieMatiere", "MatEducNat", code)?;
        attr(f, "ENTMatJointure", &[code])?;
        attr(f, "ENTLibelleMatiere", &[label])?;
        add_end(f)?;
    }
    w.finish()?;
    let mut w = PartWriter::new(opts, "Complet", date, "MefEducNat", &mut summary);
    for (code, label, level, _) in MEFS {
        let f = w.next()?;
        add_start(f, "categorieMef", "MefEducNat", code)?;
        attr(f, "ENTMefJointure", &[code])?;
        attr(f, "ENTLibelleMef", &[label])?;
        attr(f, "ENTNivFormation", &[level])?;
        attr(f, "ENTFiliere", &["GENERALE"])?;
        add_end(f)?;
    }
    w.finish()?;

    // Pupils. Surnames are drawn per family (the first parent) so siblings share one.
    let family_name = |p: u64| {
        SURNAMES
            .get((p.wrapping_mul(2_654_435_761) % SURNAMES.len() as u64) as usize)
            .copied()
            .unwrap_or("MARTIN")
    };
    let mut w = PartWriter::new(opts, "Complet", date, "Eleve", &mut summary);
    for i in 0..pop.pupils {
        write_pupil(w.next()?, &pop, i, &mut rng, &family_name, None)?;
    }
    w.finish()?;

    // Staff.
    let mut w = PartWriter::new(opts, "Complet", date, "PersEducNat", &mut summary);
    for i in 0..pop.staff {
        let id = Population::staff_id(i);
        let s = pop.structure_of_staff(i);
        let sid = Population::structure_id(s);
        let (given, sn) = (pick(&mut rng, GIVEN), pick(&mut rng, SURNAMES));
        let mefs = mef_of_structure(s);
        let f = w.next()?;
        add_start(f, "categoriePersonne", "PersEducNat", &id)?;
        attr(f, "ENTPersonJointure", &[&id])?;
        attr(f, "sn", &[sn])?;
        attr(f, "givenName", &[given])?;
        attr(f, "personalTitle", &[if i % 2 == 0 { "Mme" } else { "M." }])?;
        attr(f, "ENTPersonNomPatro", &[sn])?;
        attr(
            f,
            "mail",
            &[&format!(
                "{}@ac-aix-marseille.fr",
                super::login::base_login(given, sn)
            )],
        )?;
        attr(f, "ENTPersonDateNaissance", &["01/01/1980"])?;
        attr(f, "ENTPersonStructRattach", &[&sid])?;
        match i % 20 {
            0 => {
                attr(
                    f,
                    "ENTPersonFonctions",
                    &[&format!("{sid}$DIR$DIRECTION$D0010$CHEF D'ETABLISSEMENT")],
                )?;
                attr(f, "ENTPersonCategorieEnseignant", &["N"])?;
            }
            1 => {
                attr(
                    f,
                    "ENTPersonFonctions",
                    &[&format!("{sid}$DOC$DOCUMENTATION$L0080$DOCUMENTATION")],
                )?;
                attr(f, "ENTPersonCategorieEnseignant", &["O"])?;
            }
            2 | 3 => {
                attr(
                    f,
                    "ENTPersonFonctions",
                    &[&format!(
                        "{sid}$EDU$EDUCATION$L0090$CONSEILLER PRINCIPAL D'EDUCATION"
                    )],
                )?;
                attr(f, "ENTPersonCategorieEnseignant", &["N"])?;
            }
            _ => {
                let (code, label) = SUBJECTS
                    .get((i % SUBJECTS.len() as u64) as usize)
                    .copied()
                    .unwrap_or(("013000", "MATHEMATIQUES"));
                attr(
                    f,
                    "ENTPersonFonctions",
                    &[&format!("{sid}$ENS$ENSEIGNEMENT$L{code}${label}")],
                )?;
                let mut teach = Vec::new();
                for k in 0..3u64 {
                    let (_, _, _, prefix) = mefs
                        .get(((i + k) % mefs.len() as u64) as usize)
                        .copied()
                        .unwrap_or(MEFS[0]);
                    teach.push(format!(
                        "{sid}${prefix}{}${code}",
                        1 + (i + k) % CLASSES_PER_LEVEL
                    ));
                }
                let teach: Vec<&str> = teach.iter().map(String::as_str).collect();
                attr(f, "ENTAuxEnsClassesMatieres", &teach)?;
                attr(f, "ENTPersonCategorieEnseignant", &["O"])?;
            }
        }
        add_end(f)?;
    }
    w.finish()?;

    // Parents, with the reverse links to their children.
    let mut children: Vec<Vec<u64>> = vec![Vec::new(); pop.parents as usize];
    for i in 0..pop.pupils {
        for p in pop.parents_of(i) {
            if let Some(c) = children.get_mut(p as usize) {
                c.push(i);
            }
        }
    }
    let mut w = PartWriter::new(opts, "Complet", date, "PersRelEleve", &mut summary);
    for (p, kids) in children.iter().enumerate() {
        let p = p as u64;
        let id = Population::parent_id(p);
        let sn = family_name(p);
        let given = pick(&mut rng, GIVEN);
        let kids: Vec<String> = kids.iter().map(|&k| Population::pupil_id(k)).collect();
        let kids: Vec<&str> = kids.iter().map(String::as_str).collect();
        let f = w.next()?;
        add_start(f, "categoriePersonne", "PersRelEleve", &id)?;
        attr(f, "ENTPersonJointure", &[&id])?;
        attr(f, "sn", &[sn])?;
        attr(f, "givenName", &[given])?;
        attr(f, "personalTitle", &[if p % 2 == 0 { "Mme" } else { "M." }])?;
        attr(f, "ENTPersonNomPatro", &[sn])?;
        attr(
            f,
            "mail",
            &if p % 3 == 0 {
                vec![]
            } else {
                vec!["parent@example.org"]
            },
        )?;
        attr(f, "mobile", &["0600000000"])?;
        attr(f, "ENTPersonAdresse", &["12 rue des Lilas$$$"])?;
        attr(f, "ENTPersonCodePostal", &["13001"])?;
        attr(f, "ENTPersonVille", &["MARSEILLE"])?;
        attr(f, "ENTPersonPays", &["FRANCE"])?;
        attr(f, "ENTAuxPersRelEleveEleve", &kids)?;
        add_end(f)?;
    }
    w.finish()?;

    let infos = PartWriter::new(opts, "Complet", date, "InfosEducNat", &mut summary);
    infos.finish()?;

    if opts.delta {
        write_delta(opts, &pop, &mut rng, &family_name, &mut summary)?;
    }
    summary.bytes = summary
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    Ok(summary)
}

fn write_pupil(
    f: &mut impl Write,
    pop: &Population,
    i: u64,
    rng: &mut StdRng,
    family_name: &dyn Fn(u64) -> &'static str,
    class_override: Option<u64>,
) -> io::Result<()> {
    let id = Population::pupil_id(i);
    let s = pop.structure_of_pupil(i);
    let sid = Population::structure_id(s);
    let mefs = mef_of_structure(s);
    let (mef, mef_label, level, prefix) = mefs
        .get((i % mefs.len() as u64) as usize)
        .copied()
        .unwrap_or(MEFS[0]);
    let class = format!(
        "{sid}${prefix}{}",
        1 + class_override.unwrap_or(i / 7) % CLASSES_PER_LEVEL
    );
    let parents = pop.parents_of(i);
    let sn = parents.first().map(|&p| family_name(p)).unwrap_or("MARTIN");
    let given = pick(rng, GIVEN);
    let links: Vec<String> = parents
        .iter()
        .enumerate()
        .map(|(k, &p)| format!("{}${}$1$1$1$0", Population::parent_id(p), k + 1))
        .collect();
    let links: Vec<&str> = links.iter().map(String::as_str).collect();
    add_start(f, "categoriePersonne", "Eleve", &id)?;
    attr(f, "ENTPersonJointure", &[&id])?;
    attr(
        f,
        "ENTEleveINE",
        &[&format!("{:09}{}", 120_000_000 + i, "AA")],
    )?;
    attr(
        f,
        "ENTPersonDateNaissance",
        &[&format!(
            "{:02}/{:02}/{}",
            1 + i % 28,
            1 + i % 12,
            2008 + i % 8
        )],
    )?;
    attr(f, "sn", &[sn])?;
    attr(f, "givenName", &[given])?;
    attr(f, "ENTPersonAutresPrenoms", &[given])?;
    attr(f, "ENTPersonNomPatro", &[sn])?;
    attr(f, "personalTitle", &[if i % 2 == 0 { "Mme" } else { "M." }])?;
    attr(f, "mail", &[])?;
    attr(f, "ENTPersonStructRattach", &[&sid])?;
    attr(
        f,
        "ENTEleveStructRattachId",
        &[&format!("{}", 200_000_000 + i)],
    )?;
    attr(f, "ENTEleveMEF", &[mef])?;
    attr(f, "ENTEleveLibelleMEF", &[mef_label])?;
    attr(f, "ENTEleveClasses", &[&class])?;
    attr(
        f,
        "ENTEleveGroupes",
        &if i % 3 == 0 {
            vec![format!("{sid}$LV2-ESP")]
        } else {
            vec![]
        }
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )?;
    attr(f, "ENTEleveNivFormation", &[level])?;
    attr(f, "ENTEleveFiliere", &["GENERALE"])?;
    attr(f, "ENTEleveStatutEleve", &["SCOLAIRE"])?;
    attr(f, "ENTEleveRegime", &["DEMI-PENSIONNAIRE"])?;
    attr(f, "ENTEleveBoursier", &["N"])?;
    attr(f, "ENTElevePersRelEleve", &links)?;
    attr(f, "ENTPersonAdresse", &["12 rue des Lilas$$$"])?;
    attr(f, "ENTPersonCodePostal", &["13001"])?;
    attr(f, "ENTPersonVille", &["MARSEILLE"])?;
    attr(f, "ENTPersonPays", &["FRANCE"])?;
    add_end(f)
}

/// A Delta for the next day: class changes, departures.
fn write_delta(
    opts: &GenerateOptions,
    pop: &Population,
    rng: &mut StdRng,
    family_name: &dyn Fn(u64) -> &'static str,
    summary: &mut GenerateSummary,
) -> io::Result<()> {
    let date = opts.date.next_day().unwrap_or(opts.date);
    let mut w = PartWriter::new(opts, "Delta", date, "Eleve", summary);
    for i in (0..pop.pupils).step_by(97) {
        let id = Population::pupil_id(i);
        let f = w.next()?;
        if i % 5 == 0 {
            write!(f, "<deleteRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>{id}</id></identifier>\n</deleteRequest>\n")?;
        } else if i % 5 == 1 {
            // The same pupil again with a new class: an add of an existing person.
            write_pupil(f, pop, i, rng, family_name, Some(i / 7 + 1))?;
        } else {
            let sid = Population::structure_id(pop.structure_of_pupil(i));
            let mefs = mef_of_structure(pop.structure_of_pupil(i));
            let (_, _, _, prefix) = mefs
                .get((i % mefs.len() as u64) as usize)
                .copied()
                .unwrap_or(MEFS[0]);
            write!(f, "<modifyRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>{id}</id></identifier>\n<modifications>\n<modification name=\"ENTEleveClasses\" operation=\"replace\"><value>{}</value></modification>\n</modifications>\n</modifyRequest>\n", esc(&format!("{sid}${prefix}{}", 1 + (i / 7 + 2) % CLASSES_PER_LEVEL)))?;
        }
    }
    w.finish()
}

/// A one-line summary of what `generate` wrote.
pub fn describe(summary: &GenerateSummary, out: &Path) -> String {
    format!(
        "{} files in {} ({:.1} MB): {} pupils, {} parents, {} staff, {} structures",
        summary.files.len(),
        out.display(),
        summary.bytes as f64 / 1e6,
        summary.pupils,
        summary.parents,
        summary.staff,
        summary.structures
    )
}
