//! `idp demo`: a working demo on localhost.

use clap::Args;

use crate::settings::Settings;

#[derive(Args)]
pub struct DemoArgs {}

pub fn run(_settings: Settings, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not built yet")
}
