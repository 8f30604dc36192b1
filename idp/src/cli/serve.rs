//! `idp serve`: run the identity provider.

use crate::settings::Settings;

pub fn run(_settings: Settings) -> anyhow::Result<()> {
    anyhow::bail!("the server is not built yet")
}
