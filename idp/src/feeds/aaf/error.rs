//! The one error type of the feed. Every variant that comes from a file names it, and the
//! line when there is one, so that an operator can open the file at the right place.

use crate::ports::BackendError;

use super::filename::NameError;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not an AAF file name: {reason}")]
    FileName { file: String, reason: NameError },
    #[error("{file}, line {line}: {reason}")]
    Invalid {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Delivery { file: String, reason: String },
    #[error("{file}, line {line}: broken reference: {reason}")]
    BrokenReference {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("directory error ({context}): {source}")]
    Backend {
        context: String,
        source: BackendError,
    },
}

impl ImportError {
    pub(crate) fn invalid(file: &str, line: u64, reason: impl Into<String>) -> Self {
        Self::Invalid {
            file: file.to_owned(),
            line,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(file: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            file: file.into(),
            source,
        }
    }

    pub(crate) fn backend(context: impl Into<String>) -> impl FnOnce(BackendError) -> Self {
        let context = context.into();
        move |source| Self::Backend { context, source }
    }
}
