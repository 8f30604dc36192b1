//! Federation registry (issue 3): to be built.
