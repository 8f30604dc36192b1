//! Domain types of the directory: people, reference entries (structures, subjects, MEF),
//! sessions. No I/O here: backends store these, front-ends read them.

mod attributes;
mod person;
mod profiles;
mod reference;
mod session;

pub use attributes::{composite, Attributes};
pub use person::{
    AccountState, Category, ClassRef, Credentials, Function, ParentLink, Person, PersonKey,
    Teaching,
};
pub use profiles::Profile;
pub use reference::{EntryKey, ReferenceEntry, ReferenceKind};
pub use session::{SessionId, SsoSession};
