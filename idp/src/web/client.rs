//! The client address used for throttling and the audit trail: the socket's peer, or the
//! last `X-Forwarded-For` hop when `Settings.server.trust_forwarded_for` says a trusted
//! reverse proxy stands in front. The last hop is the one that proxy appended itself;
//! earlier ones are whatever the client chose to send.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};

use super::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    pub fn of(req: &HttpRequest, trust_forwarded_for: bool) -> Self {
        if trust_forwarded_for {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .last();
            if let Some(ip) = forwarded {
                return Self(ip.to_string());
            }
        }
        Self(
            req.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }
}

impl FromRequest for ClientAddr {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = req
            .app_data::<Data<AppState>>()
            .is_some_and(|s| s.settings.server.trust_forwarded_for);
        ready(Ok(Self::of(req, trust)))
    }
}
