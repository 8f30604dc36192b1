//! The agreement annex as a readable document (Markdown and HTML).
//!
//! The annex is built once as a small neutral document (headings, paragraphs, lists,
//! tables: `document`) in the annex's own structure — parties, perimeter, commitments of
//! the identity provider, identity and attributes produced per service with their purposes,
//! commitments of each service provider, mutual commitments, duration / renewal /
//! termination, costs — and then rendered to Markdown or HTML. Both renderings come from the
//! same blocks, so they cannot say different things; the HTML one escapes every text.

mod document;
mod render;

pub use document::{build, Block};

use crate::model::Registry;

/// The annex of `registry` in Markdown.
pub fn render_markdown(registry: &Registry) -> String {
    render::markdown(&build(registry))
}

/// The annex of `registry` as a standalone HTML page (every text escaped).
pub fn render_html(registry: &Registry) -> String {
    render::html(&build(registry), &registry.federation.name)
}

#[cfg(test)]
mod tests;
