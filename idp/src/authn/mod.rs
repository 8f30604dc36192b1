//! Authentication: checks a login and a password (or a first-login activation code) against
//! the directory, throttles failures, applies the password policy when someone chooses a
//! password, and audits every attempt.
//!
//! It knows nothing of HTTP: the web front-end (and later SAML and CAS) calls
//! [`Authenticator::login`] and [`Authenticator::activate`] and maps the outcomes to pages.
//! It sees the directory, counters, clock and audit only through `ports`.
//!
//! What the caller learns is chosen so as not to help an attacker: an unknown login and a
//! wrong password are distinct audit reasons but one user-facing outcome, cost the same
//! Argon2 time, and count against the same throttle; the account state (locked, left) is
//! only revealed to someone who proved they know the password.

mod activation;
mod password;
mod policy;
mod throttle;

use std::sync::Arc;

pub use activation::{code_matches, PendingActivation, PendingToken, PENDING_LIFETIME};
pub use password::{HashError, PasswordHasher};
pub use policy::{PasswordPolicy, PolicyViolation, MAX_LENGTH as MAX_PASSWORD_LENGTH};
pub use throttle::Throttle;

use crate::audit::{AuditEvent, AuditSink, FailureReason};
use crate::model::{AccountState, Person};
use crate::ports::{BackendError, Clock, CounterStore, Directory, TicketStore};
use crate::settings::Settings;

use activation::PendingActivations;

#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("password worker failed: {0}")]
    Worker(String),
}

/// The result of a login attempt.
#[derive(Debug)]
pub enum AuthnOutcome {
    /// The person may have a session.
    Authenticated(Box<Person>),
    /// The activation code was right: the person must choose a password first.
    NeedsActivation(PendingToken),
    Failed(FailureReason),
}

/// The result of choosing a password after an activation code.
#[derive(Debug)]
pub enum ActivationOutcome {
    Activated(Box<Person>),
    Rejected(PolicyViolation),
    /// The pending activation is unknown, expired or no longer applies.
    Expired,
}

/// The services authentication needs, all behind ports.
#[derive(Clone)]
pub struct AuthnDeps {
    pub directory: Arc<dyn Directory>,
    pub counters: Arc<dyn CounterStore>,
    /// Where pending activations are kept (shared by the nodes with the Redis stores).
    pub tickets: Arc<dyn TicketStore>,
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Clone)]
pub struct Authenticator {
    deps: AuthnDeps,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    throttle: Throttle,
    pending: PendingActivations,
    /// Bounds the Argon2 runs in flight (each takes `argon2_memory_kib` of RAM and a core):
    /// at a Monday-morning peak, logins queue here instead of exhausting memory.
    argon2_slots: Arc<tokio::sync::Semaphore>,
}

/// What the credential check found, before the account state is looked at.
enum Check {
    Password,
    ActivationCode,
    Wrong(FailureReason),
}

/// Logins are stored lower case; people type them any way.
pub fn normalize_login(login: &str) -> String {
    login.trim().to_lowercase()
}

/// What the audit trail records of a login typed on a failed attempt: the login itself
/// when it has the shape of one (`[a-z0-9.-]`, as the AAF import makes them, at most 64),
/// else a marker. People do type their password into the login box; the trail must not
/// keep it. A password of login shape still passes: the rule narrows, it cannot be sure.
pub fn loggable_login(typed: &str) -> String {
    let login = normalize_login(typed);
    let shaped = !login.is_empty()
        && login.len() <= 64
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if shaped || login.is_empty() {
        login
    } else {
        "(not a login: not recorded)".to_owned()
    }
}

impl Authenticator {
    /// Builds the authenticator. Computes the dummy hash: one Argon2 run, so call it once
    /// at startup.
    pub fn new(settings: &Settings, deps: AuthnDeps) -> Result<Self, AuthnError> {
        Ok(Self {
            hasher: PasswordHasher::new(&settings.passwords)?,
            policy: PasswordPolicy {
                min_length: settings.passwords.min_length,
            },
            throttle: Throttle::new(deps.counters.clone(), settings.throttle.clone()),
            pending: PendingActivations::new(deps.tickets.clone()),
            argon2_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            )),
            deps,
        })
    }

    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    fn audit(&self, event: AuditEvent) {
        self.deps.audit.record(self.deps.clock.now(), event);
    }

    /// Records an authentication event noticed by a front-end (a forged form, say).
    pub fn audit_event(&self, event: AuditEvent) {
        self.audit(event);
    }

    fn audit_failure(&self, login: &str, reason: FailureReason, client_ip: &str) {
        tracing::info!(reason = ?reason, "authentication refused");
        self.audit(AuditEvent::AuthnFailure {
            login: loggable_login(login),
            reason,
            client_ip: client_ip.to_owned(),
        });
    }

    /// Hashes a new password on the blocking pool.
    pub async fn hash_password(&self, password: &str) -> Result<String, AuthnError> {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        let _slot = self.argon2_slot().await?;
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| AuthnError::Worker(e.to_string()))?
            .map_err(AuthnError::from)
    }

    /// Checks `login` / `password` typed on a login form from `client_ip`.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<AuthnOutcome, AuthnError> {
        let login = normalize_login(login);
        let refused = self
            .throttle
            .check(&login, client_ip)
            .await
            .inspect_err(|_| {
                self.audit_failure(&login, FailureReason::BackendError, client_ip);
            })?;
        if let Some(reason) = refused {
            self.audit_failure(&login, reason, client_ip);
            return Ok(AuthnOutcome::Failed(reason));
        }
        let person = self
            .deps
            .directory
            .person_by_login(&login)
            .await
            .inspect_err(|_| self.audit_failure(&login, FailureReason::BackendError, client_ip))?;

        let check = self.check_credentials(person.as_ref(), password).await?;
        let (check, person) = match (check, person) {
            (Check::Wrong(reason), _) => {
                self.throttle
                    .record_failure(&login, client_ip)
                    .await
                    .inspect_err(|e| tracing::warn!(error = %e, "throttle counter not updated"))
                    .ok();
                self.audit_failure(&login, reason, client_ip);
                return Ok(AuthnOutcome::Failed(reason));
            }
            (_, None) => {
                // Unreachable in practice (no person means Check::Wrong), but stay closed.
                self.audit_failure(&login, FailureReason::UnknownLogin, client_ip);
                return Ok(AuthnOutcome::Failed(FailureReason::UnknownLogin));
            }
            (c, Some(p)) => (c, p),
        };

        // The secret was right: now, and only now, the account state may be told.
        match &person.state {
            AccountState::Active => {}
            AccountState::Locked { .. } => {
                self.audit_failure(&login, FailureReason::AccountLocked, client_ip);
                return Ok(AuthnOutcome::Failed(FailureReason::AccountLocked));
            }
            AccountState::Left { .. } => {
                self.audit_failure(&login, FailureReason::AccountLeft, client_ip);
                return Ok(AuthnOutcome::Failed(FailureReason::AccountLeft));
            }
        }
        self.throttle
            .record_success(&login)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "throttle counter not reset"))
            .ok();
        let method = match check {
            Check::ActivationCode => "activation_code",
            _ => "password",
        };
        self.audit(AuditEvent::AuthnSuccess {
            login: person.login.clone(),
            person: person.key.to_string(),
            method,
            client_ip: client_ip.to_owned(),
        });
        match check {
            Check::ActivationCode => {
                let token = self
                    .pending
                    .create(
                        person.key.clone(),
                        person.login.clone(),
                        self.deps.clock.now(),
                    )
                    .await?;
                Ok(AuthnOutcome::NeedsActivation(token))
            }
            _ => Ok(AuthnOutcome::Authenticated(Box::new(person))),
        }
    }

    /// The pending activation named by `token`, if still live.
    pub async fn pending(
        &self,
        token: &PendingToken,
    ) -> Result<Option<PendingActivation>, AuthnError> {
        Ok(self.pending.get(token, self.deps.clock.now()).await?)
    }

    /// Sets the password chosen after an activation code. On success the pending
    /// activation is consumed and the activation code is gone (the directory clears it).
    pub async fn activate(
        &self,
        token: &PendingToken,
        new_password: &str,
        confirmation: &str,
        client_ip: &str,
    ) -> Result<ActivationOutcome, AuthnError> {
        let Some(pending) = self.pending(token).await? else {
            return Ok(ActivationOutcome::Expired);
        };
        let person = match self.deps.directory.person(&pending.person).await? {
            // Someone may have activated or been locked meanwhile: start over.
            Some(p) if p.is_active() && p.credentials.needs_activation() => p,
            _ => {
                self.pending.remove(token).await?;
                return Ok(ActivationOutcome::Expired);
            }
        };
        if let Err(v) = self.policy.check(
            new_password,
            confirmation,
            &person.login,
            person.credentials.activation_code.as_deref(),
        ) {
            self.audit_failure(&person.login, FailureReason::WeakPassword, client_ip);
            return Ok(ActivationOutcome::Rejected(v));
        }
        let hash = self.hash_password(new_password).await?;
        let now = self.deps.clock.now();
        self.deps
            .directory
            .set_password(&person.key, hash, now)
            .await?;
        // The password is set: a store failure now must not turn into an error page.
        self.pending
            .remove(token)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "pending activation not removed"))
            .ok();
        self.audit(AuditEvent::AccountActivated {
            login: person.login.clone(),
            person: person.key.to_string(),
            client_ip: client_ip.to_owned(),
        });
        tracing::info!("account activated");
        Ok(ActivationOutcome::Activated(Box::new(person)))
    }

    async fn argon2_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AuthnError> {
        self.argon2_slots
            .acquire()
            .await
            .map_err(|e| AuthnError::Worker(e.to_string()))
    }

    /// Runs the Argon2 part of a login on the blocking pool. Every path spends exactly one
    /// Argon2 verification.
    async fn check_credentials(
        &self,
        person: Option<&Person>,
        password: &str,
    ) -> Result<Check, AuthnError> {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        let credentials = person.map(|p| p.credentials.clone());
        let _slot = self.argon2_slot().await?;
        tokio::task::spawn_blocking(move || match credentials {
            None => {
                hasher.spend_dummy(&password);
                Check::Wrong(FailureReason::UnknownLogin)
            }
            Some(c) => match (&c.password_hash, &c.activation_code) {
                (Some(hash), _) => {
                    if hasher.verify(&password, hash) {
                        Check::Password
                    } else {
                        Check::Wrong(FailureReason::WrongPassword)
                    }
                }
                (None, Some(code)) => {
                    hasher.spend_dummy(&password);
                    if code_matches(&password, code) {
                        Check::ActivationCode
                    } else {
                        Check::Wrong(FailureReason::WrongActivationCode)
                    }
                }
                (None, None) => {
                    hasher.spend_dummy(&password);
                    Check::Wrong(FailureReason::WrongPassword)
                }
            },
        })
        .await
        .map_err(|e| AuthnError::Worker(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_login;

    #[test]
    fn typed_logins_are_recorded_only_when_they_look_like_logins() {
        assert_eq!(loggable_login(" Lea.Dupont2 "), "lea.dupont2");
        assert_eq!(loggable_login("jean-luc.o-neill"), "jean-luc.o-neill");
        assert_eq!(loggable_login(""), "");
        for secret in ["Mon Secret 1", "secret!", "pa$$word", "é", &"a".repeat(65)] {
            assert_eq!(loggable_login(secret), "(not a login: not recorded)");
        }
    }
}
