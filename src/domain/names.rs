//! The enums stored and served by their names (a job's kind and status, a delivery's outcome, a session's source):
//! reading one back from text, one way for all of them.

/// A stored or typed value that names no variant.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a {what} (one of {known})")]
pub struct UnknownValue {
    what: &'static str,
    text: String,
    known: String,
}

impl UnknownValue {
    /// The variant among `all` whose name is `text`; else an error saying `text` is not a `what`. How every enum
    /// stored or served by its name is read back.
    pub fn or_variant<T: Copy>(
        all: &[T],
        name: fn(T) -> &'static str,
        what: &'static str,
        text: String,
    ) -> Result<T, Self> {
        match all.iter().copied().find(|v| name(*v) == text) {
            Some(variant) => Ok(variant),
            None => {
                let known = all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ");
                Err(Self { what, text, known })
            }
        }
    }
}
