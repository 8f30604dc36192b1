//! The `idp` binary: parse the command line, load settings, hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use idp::cli;
use idp::settings::Settings;

/// mimalloc rather than glibc's allocator: a request allocates many small buffers, and
/// malloc/free took 6-8% of the server's CPU on the SSO hop (BENCHMARKS.md, SAML SSO).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "idp", version, about = "Identity provider for ENT federations")]
struct Cli {
    /// TOML configuration file (optional: every setting has a default; IDP_* variables override).
    #[arg(long, short, env = "IDP_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity provider.
    Serve,
    /// Run a demo federation on localhost with a fictional school.
    Demo(cli::demo::DemoArgs),
    /// AAF directory feed: import, activation codes, synthetic deliveries.
    #[command(subcommand)]
    Aaf(cli::aaf::AafCommand),
    /// One account: show, lock, unlock, export all data held (RGPD).
    #[command(subcommand)]
    Account(cli::account::AccountCommand),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let settings = match Settings::load(args.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command {
        Command::Serve => cli::serve::run(settings),
        Command::Demo(a) => cli::demo::run(settings, a),
        Command::Aaf(c) => cli::aaf::run(settings, c),
        Command::Account(c) => cli::account::run(settings, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
