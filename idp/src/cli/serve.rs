//! `idp serve`: run the identity provider with the backends its settings name.

use anyhow::Context as _;

use crate::app;
use crate::settings::Settings;

pub fn run(settings: Settings) -> anyhow::Result<()> {
    app::init_tracing(&settings.log);
    // Opened here rather than inside `Backends::from_settings` so that the write side of
    // the (single-process) embedded directory stays at hand for feeds run by the server.
    let directory = app::open_directory(&settings).context("starting the IdP")?;
    let backends = app::Backends::with_directory(&settings, directory.reader.clone())
        .context("starting the IdP")?;
    if !settings.aaf.incoming_dir.as_os_str().is_empty() {
        crate::feeds::incoming::spawn_watcher(
            &settings.aaf,
            directory.writer.clone(),
            backends.clock.clone(),
        )
        .context("starting the AAF drop-folder watcher")?;
    }
    app::run(&settings, backends, |_| {}).context("running the IdP")?;
    tracing::info!("stopped");
    Ok(())
}
