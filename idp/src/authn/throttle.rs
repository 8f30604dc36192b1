//! Throttling of failed logins, per account and per client address, over the shared
//! `CounterStore` (so that every node of a cluster sees the same counts).
//!
//! The account counter is keyed by the login as typed (normalised), whether or not it
//! exists: throttling an unknown login the same way as a real one keeps the refusal from
//! revealing which logins exist. A success resets the account counter only; the address
//! counter keeps running so that one valid account cannot be used to reset a
//! password-spraying address.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::FailureReason;
use crate::ports::{BackendError, CounterStore};
use crate::settings::ThrottleSettings;

#[derive(Clone)]
pub struct Throttle {
    counters: Arc<dyn CounterStore>,
    settings: ThrottleSettings,
}

fn account_key(login: &str) -> String {
    format!("authn:account:{login}")
}

fn address_key(address: &str) -> String {
    format!("authn:address:{address}")
}

impl Throttle {
    pub fn new(counters: Arc<dyn CounterStore>, settings: ThrottleSettings) -> Self {
        Self { counters, settings }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.settings.window_secs)
    }

    /// Whether an attempt may go ahead; `Some(reason)` when it must be refused unchecked.
    pub async fn check(
        &self,
        login: &str,
        address: &str,
    ) -> Result<Option<FailureReason>, BackendError> {
        if self.counters.count(&address_key(address)).await?
            >= self.settings.max_failures_per_address
        {
            return Ok(Some(FailureReason::ThrottledAddress));
        }
        if self.counters.count(&account_key(login)).await? >= self.settings.max_failures_per_account
        {
            return Ok(Some(FailureReason::ThrottledAccount));
        }
        Ok(None)
    }

    pub async fn record_failure(&self, login: &str, address: &str) -> Result<(), BackendError> {
        let window = self.window();
        self.counters.hit(&account_key(login), window).await?;
        self.counters.hit(&address_key(address), window).await?;
        Ok(())
    }

    pub async fn record_success(&self, login: &str) -> Result<(), BackendError> {
        self.counters.reset(&account_key(login)).await
    }
}
