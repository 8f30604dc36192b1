//! The page models handed to the askama templates in `idp/templates/`. Every page shares
//! a `Chrome` (language, service name, language switch, legal notice) used by `base.html`.

use askama::Template;

use super::i18n::{Lang, Texts};

/// What the page layout needs.
pub struct Chrome {
    pub lang: &'static str,
    pub t: &'static Texts,
    pub service_name: String,
    /// Link to the same page in the other language.
    pub switch_href: String,
    pub switch_lang: &'static str,
    /// The legal information notice, on the pages that must show it.
    pub legal: Option<String>,
}

impl Chrome {
    pub fn new(lang: Lang, service_name: &str, path: &str, legal: Option<String>) -> Self {
        Self {
            lang: lang.code(),
            t: lang.texts(),
            service_name: service_name.to_owned(),
            switch_href: format!("{path}?lang={}", lang.other().code()),
            switch_lang: lang.other().code(),
            legal,
        }
    }
}

/// One entry of an error summary: links to the field it is about.
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
    /// Also shown next to the field (not for "wrong login or password", which is about
    /// the pair and would mislead under one field).
    pub inline: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub csrf: String,
    pub login: String,
    pub errors: Vec<FieldError>,
    pub login_error: Option<String>,
    pub password_error: Option<String>,
    pub notice: Option<String>,
    /// The CAS service to continue to after login (re-checked on submit).
    pub service: Option<String>,
    pub method_post: bool,
    /// CAS `renew`: carried by the form so the language switch keeps it.
    pub renew: bool,
    /// SAML: the reference of the pending AuthnRequest to answer after login.
    pub saml: Option<String>,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub struct ActivatePage {
    pub c: Chrome,
    pub csrf: String,
    pub login: String,
    pub rule_min_length: String,
    pub errors: Vec<FieldError>,
    pub password_error: Option<String>,
    pub confirm_error: Option<String>,
}

/// One establishment shown on the welcome page.
pub struct StructureView {
    pub name: String,
    pub uai: String,
}

pub struct ProfileView {
    pub label: &'static str,
    pub code: &'static str,
}

pub struct ClassView {
    pub name: String,
    pub structure: String,
}

/// A parent's child, with the child's classes.
pub struct ChildView {
    pub name: String,
    pub classes: String,
}

pub struct UserView {
    pub name: String,
    pub login: String,
    pub profiles: Vec<ProfileView>,
    pub structures: Vec<StructureView>,
    pub classes: Vec<ClassView>,
    pub children: Vec<ChildView>,
    pub is_parent: bool,
}

#[derive(Template)]
#[template(path = "welcome.html")]
pub struct WelcomePage {
    pub c: Chrome,
    pub csrf: String,
    pub user: Option<UserView>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage {
    pub c: Chrome,
    /// The ended session's services and what was done for each.
    pub services: Vec<LoggedOutService>,
    /// Signed LogoutRequest URLs to the session's other SAML SPs, one frame each.
    pub frames: Vec<String>,
    /// Where the browser goes next (the initiating SP's LogoutResponse, HTTP-Redirect).
    pub next: Option<String>,
}

pub struct LoggedOutService {
    pub name: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Chrome,
    pub title: &'static str,
    pub message: &'static str,
}
