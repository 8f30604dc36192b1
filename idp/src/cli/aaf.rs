//! `idp aaf ...`: the AAF feed commands.

use clap::Subcommand;

use crate::settings::Settings;

#[derive(Subcommand)]
pub enum AafCommand {}

pub fn run(_settings: Settings, command: AafCommand) -> anyhow::Result<()> {
    match command {}
}
