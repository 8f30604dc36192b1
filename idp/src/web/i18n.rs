//! Every string the pages show, in French (the default) and English, and the choice of
//! language for a request: `?lang=` (remembered in a cookie by the headers middleware),
//! then that cookie, then `Accept-Language`, then `Settings.ui.default_language`.
//!
//! Strings live here and nowhere else, so that a translation is one struct to fill.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use std::future::{ready, Ready};

use crate::audit::FailureReason;
use crate::authn::PolicyViolation;
use crate::model::Profile;

/// Cookie remembering an explicit language choice.
pub const LANG_COOKIE: &str = "idp_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fr" => Some(Self::Fr),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Fr => Self::En,
            Self::En => Self::Fr,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Self::Fr => &FR,
            Self::En => &EN,
        }
    }

    /// The language for `req`, see the module doc.
    pub fn of(req: &HttpRequest, default: Lang) -> Lang {
        if let Some(l) = query_lang(req.query_string()) {
            return l;
        }
        if let Some(l) = req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
            return l;
        }
        req.headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(accept_language)
            .unwrap_or(default)
    }
}

/// `lang=xx` in a query string.
pub fn query_lang(query: &str) -> Option<Lang> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

/// The first of fr/en in an `Accept-Language` header, by quality then order.
fn accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, f32)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or_default();
        if let Some(lang) = Lang::parse(primary) {
            if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((lang, q));
            }
        }
    }
    best.map(|(l, _)| l)
}

/// Extractor: the request's language (the default comes from the app state).
impl FromRequest for Lang {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Lang::of(req, default_lang(req))))
    }
}

pub fn default_lang(req: &HttpRequest) -> Lang {
    req.app_data::<actix_web::web::Data<super::state::AppState>>()
        .and_then(|s| Lang::parse(&s.settings.ui.default_language))
        .unwrap_or(Lang::Fr)
}

/// The fixed strings of the pages.
pub struct Texts {
    pub skip_link: &'static str,
    pub switch_label: &'static str,
    pub legal_heading: &'static str,
    pub error_summary_title: &'static str,

    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub login_label: &'static str,
    pub login_hint: &'static str,
    pub password_label: &'static str,
    pub password_hint: &'static str,
    pub login_submit: &'static str,
    pub err_login_missing: &'static str,
    pub err_password_missing: &'static str,
    pub err_bad_credentials: &'static str,
    pub err_locked: &'static str,
    pub err_left: &'static str,
    pub err_throttled_account: &'static str,
    pub err_throttled_address: &'static str,
    pub session_expired: &'static str,

    pub activate_title: &'static str,
    pub activate_intro: &'static str,
    pub new_password_label: &'static str,
    pub confirm_label: &'static str,
    pub activate_submit: &'static str,
    pub rules_heading: &'static str,
    pub rule_classes: &'static str,
    pub rule_not_login: &'static str,
    pub err_new_password_missing: &'static str,
    pub activation_expired: &'static str,

    pub welcome_title: &'static str,
    pub welcome_anonymous: &'static str,
    pub welcome_login_link: &'static str,
    pub welcome_signed_in_as: &'static str,
    pub field_login: &'static str,
    pub field_profiles: &'static str,
    pub field_structures: &'static str,
    pub field_classes: &'static str,
    pub uai: &'static str,
    pub none: &'static str,
    pub none_f: &'static str,
    pub field_children: &'static str,
    pub logout_submit: &'static str,
    pub my_data_link: &'static str,
    pub my_data_text: &'static str,

    pub logged_out_title: &'static str,
    pub logged_out_text: &'static str,
    pub login_again: &'static str,

    pub back_home: &'static str,
    pub error_bad_request: (&'static str, &'static str),
    pub error_unknown_service: (&'static str, &'static str),
    pub error_too_large: (&'static str, &'static str),
    pub error_csrf: (&'static str, &'static str),
    pub error_not_found: (&'static str, &'static str),
    pub error_method: (&'static str, &'static str),
    pub error_unavailable: (&'static str, &'static str),
    pub error_internal: (&'static str, &'static str),
}

pub static FR: Texts = Texts {
    skip_link: "Aller au contenu",
    switch_label: "English",
    legal_heading: "Mentions légales",
    error_summary_title: "Il y a un problème",

    login_title: "Connexion",
    login_intro: "Connectez-vous avec l'identifiant et le mot de passe de votre espace numérique de travail.",
    login_label: "Identifiant",
    login_hint: "Par exemple : prenom.nom",
    password_label: "Mot de passe ou code d'activation",
    password_hint: "Première connexion ? Saisissez le code d'activation remis par votre établissement.",
    login_submit: "Se connecter",
    err_login_missing: "Saisissez votre identifiant.",
    err_password_missing: "Saisissez votre mot de passe ou votre code d'activation.",
    err_bad_credentials: "Identifiant ou mot de passe incorrect.",
    err_locked: "Ce compte est bloqué. Contactez votre établissement pour le débloquer.",
    err_left: "Ce compte n'est plus actif : il n'est plus rattaché à un établissement de l'ENT.",
    err_throttled_account: "Trop de tentatives échouées pour ce compte. Réessayez dans quelques minutes.",
    err_throttled_address: "Trop de tentatives échouées depuis votre réseau. Réessayez dans quelques minutes.",
    session_expired: "Votre session a expiré. Connectez-vous à nouveau.",

    activate_title: "Choisissez votre mot de passe",
    activate_intro: "Votre code d'activation est correct. Choisissez maintenant le mot de passe que vous utiliserez désormais pour vous connecter ; le code d'activation ne servira plus.",
    new_password_label: "Nouveau mot de passe",
    confirm_label: "Confirmez le nouveau mot de passe",
    activate_submit: "Enregistrer et me connecter",
    rules_heading: "Votre mot de passe doit :",
    rule_classes: "mélanger au moins deux sortes de caractères (minuscules, majuscules, chiffres, symboles ou espaces) ;",
    rule_not_login: "être différent de votre identifiant, de votre code d'activation et des mots de passe trop courants.",
    err_new_password_missing: "Saisissez votre nouveau mot de passe.",
    activation_expired: "Le délai pour choisir votre mot de passe est dépassé. Connectez-vous à nouveau avec votre code d'activation.",

    welcome_title: "Bienvenue",
    welcome_anonymous: "Vous n'êtes pas connecté(e).",
    welcome_login_link: "Se connecter",
    welcome_signed_in_as: "Vous êtes connecté(e) en tant que",
    field_login: "Identifiant",
    field_profiles: "Profils",
    field_structures: "Établissements",
    field_classes: "Classes",
    uai: "UAI",
    none: "aucun",
    none_f: "aucune",
    field_children: "Enfants",
    logout_submit: "Se déconnecter",
    my_data_link: "Télécharger mes données",
    my_data_text: "Tout ce que ce service de connexion conserve sur vous (annuaire, établissements, journal des connexions), dans un fichier JSON : votre droit d'accès (RGPD, article 15).",

    logged_out_title: "Vous êtes déconnecté(e)",
    logged_out_text: "Votre session est terminée. Sur un ordinateur partagé, fermez aussi le navigateur.",
    login_again: "Se connecter à nouveau",

    back_home: "Retour à l'accueil",
    error_unknown_service: ("Service non autorisé", "Le service qui vous a envoyé ici n'est pas autorisé à utiliser cette connexion. Aucune information n'a été transmise."),
    error_bad_request: ("Requête invalide", "Le formulaire envoyé est incomplet ou mal formé. Revenez à la page précédente et réessayez."),
    error_too_large: ("Formulaire trop volumineux", "Le formulaire envoyé dépasse la taille autorisée. Revenez à la page précédente et réessayez."),
    error_csrf: ("Formulaire expiré", "Ce formulaire a expiré ou ne provient pas de ce site : rien n'a été fait. Rechargez la page et réessayez."),
    error_not_found: ("Page introuvable", "L'adresse demandée n'existe pas sur ce service."),
    error_method: ("Action impossible", "Cette adresse ne peut pas être utilisée de cette façon."),
    error_unavailable: ("Service momentanément indisponible", "Le service ne peut pas répondre pour le moment. Réessayez dans quelques minutes."),
    error_internal: ("Erreur inattendue", "Une erreur inattendue s'est produite. Réessayez dans quelques minutes."),
};

pub static EN: Texts = Texts {
    skip_link: "Skip to content",
    switch_label: "Français",
    legal_heading: "Legal notice",
    error_summary_title: "There is a problem",

    login_title: "Log in",
    login_intro: "Log in with the login and password of your digital workspace.",
    login_label: "Login",
    login_hint: "For example: firstname.lastname",
    password_label: "Password or activation code",
    password_hint: "First time? Type the activation code your school gave you.",
    login_submit: "Log in",
    err_login_missing: "Enter your login.",
    err_password_missing: "Enter your password or your activation code.",
    err_bad_credentials: "Incorrect login or password.",
    err_locked: "This account is locked. Contact your school to unlock it.",
    err_left: "This account is no longer active: it is no longer attached to a school of this workspace.",
    err_throttled_account: "Too many failed attempts for this account. Try again in a few minutes.",
    err_throttled_address: "Too many failed attempts from your network. Try again in a few minutes.",
    session_expired: "Your session has expired. Please log in again.",

    activate_title: "Choose your password",
    activate_intro: "Your activation code is correct. Now choose the password you will use to log in from now on; the activation code will no longer work.",
    new_password_label: "New password",
    confirm_label: "Confirm the new password",
    activate_submit: "Save and log in",
    rules_heading: "Your password must:",
    rule_classes: "mix at least two kinds of characters (lower case, upper case, digits, symbols or spaces);",
    rule_not_login: "differ from your login, your activation code and very common passwords.",
    err_new_password_missing: "Enter your new password.",
    activation_expired: "The time to choose your password has run out. Log in again with your activation code.",

    welcome_title: "Welcome",
    welcome_anonymous: "You are not logged in.",
    welcome_login_link: "Log in",
    welcome_signed_in_as: "You are logged in as",
    field_login: "Login",
    field_profiles: "Profiles",
    field_structures: "Schools",
    field_classes: "Classes",
    uai: "UAI",
    none: "none",
    none_f: "none",
    field_children: "Children",
    logout_submit: "Log out",
    my_data_link: "Download my data",
    my_data_text: "Everything this login service keeps about you (directory entry, schools, login history), as a JSON file: your right of access (GDPR, article 15).",

    logged_out_title: "You are logged out",
    logged_out_text: "Your session has ended. On a shared computer, also close the browser.",
    login_again: "Log in again",

    back_home: "Back to the home page",
    error_unknown_service: ("Service not allowed", "The service that sent you here is not allowed to use this login. No information was sent to it."),
    error_bad_request: ("Invalid request", "The form sent was incomplete or malformed. Go back to the previous page and try again."),
    error_too_large: ("Form too large", "The form sent is larger than allowed. Go back to the previous page and try again."),
    error_csrf: ("Form expired", "This form has expired or did not come from this site: nothing was done. Reload the page and try again."),
    error_not_found: ("Page not found", "The address you asked for does not exist on this service."),
    error_method: ("Not possible", "This address cannot be used this way."),
    error_unavailable: ("Service temporarily unavailable", "The service cannot answer right now. Try again in a few minutes."),
    error_internal: ("Unexpected error", "An unexpected error occurred. Try again in a few minutes."),
};

/// The rule about length, with the configured minimum.
pub fn rule_min_length(lang: Lang, min: usize) -> String {
    match lang {
        Lang::Fr => format!("comporter au moins {min} caractères ;"),
        Lang::En => format!("have at least {min} characters;"),
    }
}

/// The message for a refused login attempt. Unknown login, wrong password and wrong
/// activation code read the same on purpose.
pub fn failure_message(lang: Lang, reason: FailureReason) -> &'static str {
    let t = lang.texts();
    match reason {
        FailureReason::AccountLocked => t.err_locked,
        FailureReason::AccountLeft => t.err_left,
        FailureReason::ThrottledAccount => t.err_throttled_account,
        FailureReason::ThrottledAddress => t.err_throttled_address,
        _ => t.err_bad_credentials,
    }
}

pub fn policy_message(lang: Lang, v: PolicyViolation) -> String {
    match (lang, v) {
        (Lang::Fr, PolicyViolation::TooShort { min }) => {
            format!("Le mot de passe doit comporter au moins {min} caractères.")
        }
        (Lang::En, PolicyViolation::TooShort { min }) => {
            format!("The password must have at least {min} characters.")
        }
        (Lang::Fr, PolicyViolation::TooLong { max }) => {
            format!("Le mot de passe doit comporter au plus {max} caractères.")
        }
        (Lang::En, PolicyViolation::TooLong { max }) => {
            format!("The password must have at most {max} characters.")
        }
        (Lang::Fr, PolicyViolation::SameAsLogin) => {
            "Le mot de passe ne doit pas être votre identifiant.".into()
        }
        (Lang::En, PolicyViolation::SameAsLogin) => "The password must not be your login.".into(),
        (Lang::Fr, PolicyViolation::SameAsActivationCode) => {
            "Le mot de passe ne doit pas être votre code d'activation.".into()
        }
        (Lang::En, PolicyViolation::SameAsActivationCode) => {
            "The password must not be your activation code.".into()
        }
        (Lang::Fr, PolicyViolation::SingleClass) => "Mélangez au moins deux sortes de caractères : minuscules, majuscules, chiffres, symboles ou espaces.".into(),
        (Lang::En, PolicyViolation::SingleClass) => "Mix at least two kinds of characters: lower case, upper case, digits, symbols or spaces.".into(),
        (Lang::Fr, PolicyViolation::TooCommon) => {
            "Ce mot de passe est trop courant : choisissez-en un autre.".into()
        }
        (Lang::En, PolicyViolation::TooCommon) => {
            "This password is too common: choose another one.".into()
        }
        (Lang::Fr, PolicyViolation::ConfirmationMismatch) => {
            "Les deux mots de passe saisis ne sont pas identiques.".into()
        }
        (Lang::En, PolicyViolation::ConfirmationMismatch) => {
            "The two passwords you typed are not the same.".into()
        }
    }
}

pub fn profile_label(lang: Lang, p: Profile) -> &'static str {
    match (lang, p) {
        (Lang::Fr, Profile::Elv) => "Élève",
        (Lang::En, Profile::Elv) => "Pupil",
        (Lang::Fr, Profile::Tut) => "Parent ou responsable légal",
        (Lang::En, Profile::Tut) => "Parent or legal guardian",
        (Lang::Fr, Profile::Ens) => "Enseignant",
        (Lang::En, Profile::Ens) => "Teacher",
        (Lang::Fr, Profile::Dir) => "Personnel de direction",
        (Lang::En, Profile::Dir) => "Head of school",
        (Lang::Fr, Profile::Evs) => "Vie scolaire",
        (Lang::En, Profile::Evs) => "School life staff",
        (Lang::Fr, Profile::Eta) => "Personnel administratif ou technique",
        (Lang::En, Profile::Eta) => "Administrative or technical staff",
        (Lang::Fr, Profile::Doc) => "Professeur documentaliste",
        (Lang::En, Profile::Doc) => "Librarian",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_by_quality() {
        assert_eq!(accept_language("en-GB,en;q=0.9,fr;q=0.8"), Some(Lang::En));
        assert_eq!(accept_language("de-DE, fr;q=0.5, en;q=0.4"), Some(Lang::Fr));
        assert_eq!(accept_language("de"), None);
        assert_eq!(accept_language("en;q=0, fr;q=0.1"), Some(Lang::Fr));
    }

    #[test]
    fn query_parameter() {
        assert_eq!(query_lang("a=1&lang=en"), Some(Lang::En));
        assert_eq!(query_lang("lang=de"), None);
    }
}
