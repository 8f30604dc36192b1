//! Encoding of CAS answers: `cas:serviceResponse` XML (CAS 2 and 3) and its JSON form
//! (`format=JSON`), the CAS 1 text answer, and the `/proxy` answers. Every text is escaped;
//! attribute names that are not XML names are left out (the registry validates them).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use super::error::CasError;
use crate::release::Released;

/// What a successful validation answers.
#[derive(Debug, Clone)]
pub struct Success {
    pub user: String,
    /// Sent only on `/p3/*` (and `/samlValidate`).
    pub attributes: Option<Vec<Released>>,
    pub pgt_iou: Option<String>,
    pub proxies: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `name` can be an element name after `cas:`.
pub fn xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

const NS: &str = "http://www.yale.edu/tp/cas";

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type("application/xml; charset=utf-8")
        .body(body)
}

fn json_response(v: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(v.to_string())
}

pub fn success(s: &Success, format: Format) -> HttpResponse {
    match format {
        Format::Xml => {
            let mut out = format!(
                "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n",
                escape(&s.user)
            );
            if let Some(attrs) = &s.attributes {
                out.push_str("    <cas:attributes>\n");
                for a in attrs.iter().filter(|a| xml_name(&a.name)) {
                    for v in &a.values {
                        out.push_str(&format!(
                            "      <cas:{n}>{}</cas:{n}>\n",
                            escape(v),
                            n = a.name
                        ));
                    }
                }
                out.push_str("    </cas:attributes>\n");
            }
            if let Some(iou) = &s.pgt_iou {
                out.push_str(&format!(
                    "    <cas:proxyGrantingTicket>{}</cas:proxyGrantingTicket>\n",
                    escape(iou)
                ));
            }
            if !s.proxies.is_empty() {
                out.push_str("    <cas:proxies>\n");
                for p in &s.proxies {
                    out.push_str(&format!("      <cas:proxy>{}</cas:proxy>\n", escape(p)));
                }
                out.push_str("    </cas:proxies>\n");
            }
            out.push_str("  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
            xml(out)
        }
        Format::Json => {
            let mut ok = Map::new();
            ok.insert("user".into(), json!(s.user));
            if let Some(attrs) = &s.attributes {
                let mut m = Map::new();
                for a in attrs {
                    m.insert(a.name.clone(), json!(a.values));
                }
                ok.insert("attributes".into(), Value::Object(m));
            }
            if let Some(iou) = &s.pgt_iou {
                ok.insert("proxyGrantingTicket".into(), json!(iou));
            }
            if !s.proxies.is_empty() {
                ok.insert("proxies".into(), json!(s.proxies));
            }
            json_response(&json!({ "serviceResponse": { "authenticationSuccess": ok } }))
        }
    }
}

pub fn failure(e: &CasError, format: Format) -> HttpResponse {
    match format {
        Format::Xml => xml(format!(
            "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationFailure code=\"{}\">{}</cas:authenticationFailure>\n</cas:serviceResponse>\n",
            e.code(),
            escape(&e.description())
        )),
        Format::Json => json_response(&json!({
            "serviceResponse": { "authenticationFailure": {
                "code": e.code(), "description": e.description() } }
        })),
    }
}

pub fn proxy_success(pt: &str, format: Format) -> HttpResponse {
    match format {
        Format::Xml => xml(format!(
            "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:proxySuccess>\n    <cas:proxyTicket>{}</cas:proxyTicket>\n  </cas:proxySuccess>\n</cas:serviceResponse>\n",
            escape(pt)
        )),
        Format::Json => json_response(&json!({
            "serviceResponse": { "proxySuccess": { "proxyTicket": pt } }
        })),
    }
}

pub fn proxy_failure(e: &CasError, format: Format) -> HttpResponse {
    match format {
        Format::Xml => xml(format!(
            "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:proxyFailure code=\"{}\">{}</cas:proxyFailure>\n</cas:serviceResponse>\n",
            e.code(),
            escape(&e.description())
        )),
        Format::Json => json_response(&json!({
            "serviceResponse": { "proxyFailure": {
                "code": e.code(), "description": e.description() } }
        })),
    }
}

/// CAS 1 `/validate`: `yes\n<user>\n` or `no\n\n`.
pub fn cas1(user: Option<&str>) -> HttpResponse {
    let body = match user {
        Some(u) => format!("yes\n{u}\n"),
        None => "no\n\n".to_owned(),
    };
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(res: HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(res.into_body());
        let bytes = futures_executor(bytes).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn sample() -> Success {
        Success {
            user: "a<b".into(),
            attributes: Some(vec![
                Released {
                    name: "nom".into(),
                    values: vec!["O'Brien & <Co>".into()],
                },
                Released {
                    name: "bad name".into(),
                    values: vec!["x".into()],
                },
            ]),
            pgt_iou: None,
            proxies: vec!["https://p/cb".into()],
        }
    }

    #[test]
    fn xml_is_escaped_and_skips_names_that_are_not_xml() {
        let xml = body(success(&sample(), Format::Xml));
        assert!(xml.contains("<cas:user>a&lt;b</cas:user>"));
        assert!(xml.contains("<cas:nom>O&apos;Brien &amp; &lt;Co&gt;</cas:nom>"));
        assert!(!xml.contains("bad name"));
        assert!(xml.contains("<cas:proxy>https://p/cb</cas:proxy>"));
        let fail = body(failure(&CasError::InvalidTicket("x < y"), Format::Xml));
        assert!(fail.contains("<cas:authenticationFailure code=\"INVALID_TICKET\">x &lt; y<"));
    }

    #[test]
    fn json_has_the_same_content() {
        let v: Value = serde_json::from_str(&body(success(&sample(), Format::Json))).unwrap();
        let ok = &v["serviceResponse"]["authenticationSuccess"];
        assert_eq!(ok["user"], "a<b");
        assert_eq!(ok["attributes"]["nom"][0], "O'Brien & <Co>");
        assert_eq!(ok["proxies"][0], "https://p/cb");
        let v: Value = serde_json::from_str(&body(failure(
            &CasError::Internal("secret detail".into()),
            Format::Json,
        )))
        .unwrap();
        assert_eq!(
            v["serviceResponse"]["authenticationFailure"]["code"],
            "INTERNAL_ERROR"
        );
        assert_eq!(
            v["serviceResponse"]["authenticationFailure"]["description"],
            "internal error"
        );
    }
}
