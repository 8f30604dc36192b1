//! What the logged-out page and its status page show (the "round" of a logout), and the
//! initiating SP's answer, decided only when the page moves on.

use super::*;

/// An initiating SP's answer waiting for the logged-out page ([`Saml::defer_answer`]).
#[derive(Debug, Serialize, Deserialize)]
struct Deferred {
    pending: LogoutPending,
    session_ref: Option<String>,
    /// No other SP failed, was unreachable or had no endpoint.
    others_done: bool,
    /// The front-channel LogoutRequest IDs whose answers decide the rest.
    front: Vec<String>,
}

impl Saml {
    /// Keeps the initiating SP's answer for after the logged-out page: its outcome is only
    /// known once the front-channel SPs have answered (their frames load with the page), so
    /// it is decided, signed and sent when the browser leaves the page
    /// ([`Saml::deferred_answer`]). Returns the reference.
    pub async fn defer_answer(
        &self,
        p: &LogoutPending,
        session_ref: Option<&str>,
        notices: &[SloNotice],
    ) -> Result<String, Refusal> {
        let deferred = Deferred {
            pending: p.clone(),
            session_ref: session_ref.map(str::to_owned),
            others_done: notices
                .iter()
                .all(|n| matches!(n.state, SloState::LoggedOut | SloState::Requested { .. })),
            front: notices
                .iter()
                .filter_map(|n| match &n.state {
                    SloState::Requested { request_id, .. } => Some(request_id.clone()),
                    _ => None,
                })
                .collect(),
        };
        self.keep(ANSWER_PREFIX, &deferred)
            .await
            .map_err(|_| Refusal::page("cannot keep the answer"))
    }

    /// The initiator's answer `reference` names (consumed: sent once): `Success` when every
    /// other SP was logged out — by the back channel, or by a front-channel LogoutResponse
    /// with a `Success` status received by now — else `PartialLogout` (SAML core 3.7.3.2:
    /// the session authority could not confirm them all). `None`: unknown or already used.
    pub async fn deferred_answer(&self, reference: &str) -> Result<Option<LogoutAnswer>, Refusal> {
        let Some(d) = self
            .record::<Deferred>(Self::record_key(ANSWER_PREFIX, reference), true)
            .await
            .map_err(|_| Refusal::page("the record store is unavailable"))?
        else {
            return Ok(None);
        };
        let mut all = d.others_done;
        for id in &d.front {
            if !all {
                break;
            }
            all = matches!(
                self.tickets.get(&format!("{DONE_PREFIX}{id}")).await,
                Ok(Some(v)) if v == b"1"
            );
        }
        let outcome = if all {
            Outcome::Success
        } else {
            Outcome::Partial
        };
        self.logout_answer(&d.pending, outcome, d.session_ref.as_deref())
            .await
            .map(Some)
    }

    /// Keeps the lines of a logged-out page (and where it leads next) for its status page;
    /// returns the reference.
    pub async fn put_round(&self, lines: &[(String, Line)], next: Option<&str>) -> Option<String> {
        let round = Round {
            lines: lines.to_vec(),
            next: next.map(str::to_owned),
            views: 0,
        };
        self.keep(ROUND_PREFIX, &round).await.ok()
    }

    /// The lines `reference` names, each front-channel request resolved to the SP's answer
    /// so far, and where the page leads next. While some SP has not answered, the first
    /// [`STATUS_WAITS`] views say so (`waiting`: the page shows it "requested" and looks
    /// again, an SP may be slow); then it is `NoAnswer` and the page moves on. Left in
    /// place: the page may be reloaded.
    pub async fn round(&self, reference: &str) -> Result<Option<RoundView>, StoreDown> {
        let Some(key) = Self::record_key(ROUND_PREFIX, reference) else {
            return Ok(None);
        };
        let Some(mut round) = self.record::<Round>(Some(key.clone()), false).await? else {
            return Ok(None);
        };
        let mut answers = Vec::with_capacity(round.lines.len());
        for (_, line) in &round.lines {
            answers.push(match line {
                Line::Front(id) => match self.tickets.get(&format!("{DONE_PREFIX}{id}")).await {
                    Ok(Some(v)) if v == b"1" => Some(Line::LoggedOut),
                    Ok(Some(_)) => Some(Line::Failed),
                    _ => None,
                },
                l => Some(l.clone()),
            });
        }
        let pending = answers.iter().any(Option::is_none);
        let waiting = pending && round.views < STATUS_WAITS;
        if waiting {
            round.views += 1;
            // Only the count of views changes: a lost write merely shows one more wait.
            self.keep_at(&key, &round).await.ok();
        }
        let lines = round
            .lines
            .into_iter()
            .zip(answers)
            .map(|((name, line), answer)| {
                let shown = match answer {
                    Some(a) => a,
                    None if waiting => line,
                    None => Line::NoAnswer,
                };
                (name, shown)
            })
            .collect();
        Ok(Some(RoundView {
            lines,
            next: round.next,
            waiting,
        }))
    }
}

/// How many times the status page looks again for front-channel answers still missing
/// (each after the page's refresh delay) before it reports "no answer" and moves on.
pub const STATUS_WAITS: u8 = 3;

/// A logged-out page's lines and where it leads, kept for its status page.
#[derive(Debug, Serialize, Deserialize)]
struct Round {
    lines: Vec<(String, Line)>,
    next: Option<String>,
    /// Status views that waited for missing answers.
    views: u8,
}

/// What the status page shows.
pub struct RoundView {
    pub lines: Vec<(String, Line)>,
    /// Where the page leads once done.
    pub next: Option<String>,
    /// Some SP has not answered yet: look again instead of moving on.
    pub waiting: bool,
}

/// One line of a logged-out page: a service of the ended session and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Line {
    /// A CAS service, sent its back-channel notice.
    CasNotified,
    LoggedOut,
    Failed,
    Unreachable,
    NoEndpoint,
    /// A front-channel LogoutRequest (its ID) was sent from the page.
    Front(String),
    /// The SP has not answered its front-channel LogoutRequest (yet).
    NoAnswer,
}
