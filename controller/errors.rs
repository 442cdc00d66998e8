/*! Errors as people read them: one line with every cause.

devarch's error types say everything in their own message and also keep their cause as
[`std::error::Error::source`] (so callers can match on it). Printing the chain naively would
repeat causes; [`chain`] appends a cause only when the text so far does not already say it.
*/

use std::error::Error;

/// `error: cause: cause of the cause`, each cause once.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer says {0}")]
    struct Says(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer is silent")]
    struct Silent(#[source] std::io::Error);

    #[test]
    fn causes_are_appended_once() {
        let io = || std::io::Error::other("disk full");
        assert_eq!(chain(&Says(io())), "outer says disk full");
        assert_eq!(chain(&Silent(io())), "outer is silent: disk full");
    }
}
