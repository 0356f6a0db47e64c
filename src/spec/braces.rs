//! The brace syntax that spec templates and Redis key patterns share: `{…}` is a placeholder,
//! `{{` and `}}` are literal braces (so a cluster hash tag can be written), and a lone `}` or an
//! unclosed `{` is an error. Each caller judges the placeholders and words the errors itself.

/// One piece of a braced string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A character of literal text (a doubled brace is one).
    Char(char),
    /// The text between `{` and the next `}`.
    Placeholder(&'a str),
}

/// Why a braced string does not tokenise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BraceError<'a> {
    /// A `}` that closes nothing.
    Unmatched,
    /// A `{` never closed, with what follows it.
    Unclosed(&'a str),
}

/// The tokens of `text`, in order; an error is the last item.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = Result<Token<'_>, BraceError<'_>>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let mut chars = rest.chars();
        let c = chars.next()?;
        let after = chars.as_str();
        let (token, next) = match c {
            '{' | '}' if after.starts_with(c) => (Ok(Token::Char(c)), &after[1..]),
            '}' => (Err(BraceError::Unmatched), ""),
            '{' => match after.split_once('}') {
                Some((inner, next)) => (Ok(Token::Placeholder(inner)), next),
                None => (Err(BraceError::Unclosed(after)), ""),
            },
            c => (Ok(Token::Char(c)), after),
        };
        rest = next;
        Some(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Result<Token<'_>, BraceError<'_>>> {
        tokens(text).collect()
    }

    #[test]
    fn doubled_braces_are_text_and_single_ones_delimit_placeholders() {
        use Token::{Char, Placeholder};
        assert_eq!(
            all("{{a:{x}}}é"),
            [
                Ok(Char('{')),
                Ok(Char('a')),
                Ok(Char(':')),
                Ok(Placeholder("x")),
                Ok(Char('}')),
                Ok(Char('é')),
            ]
        );
        assert_eq!(all("{}"), [Ok(Placeholder(""))]);
    }

    #[test]
    fn a_lone_or_unclosed_brace_ends_the_tokens_with_its_error() {
        assert_eq!(
            all("a}b"),
            [Ok(Token::Char('a')), Err(BraceError::Unmatched)]
        );
        assert_eq!(
            all("a{b c"),
            [Ok(Token::Char('a')), Err(BraceError::Unclosed("b c"))]
        );
    }
}
