//! Line wrapping for the human report (textwrap): the terminal's width, or 100 columns when the
//! output is not a terminal, so log viewers and files stay readable.

/// Columns when the output is not a terminal (or its width is unknown).
pub const DEFAULT_WIDTH: usize = 100;

/// The width to wrap at: the terminal's when `terminal` is true and it can be read.
pub fn width(terminal: bool) -> usize {
    if terminal && let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
        return usize::from(w).clamp(40, 200);
    }
    DEFAULT_WIDTH
}

/// `text` wrapped to `width`, every line prefixed with `indent` (the first with `first`).
pub fn indented(text: &str, width: usize, first: &str, indent: &str) -> Vec<String> {
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(indent)
        // Rule ids, ids and paths contain hyphens: never split there, only at spaces; a word
        // longer than the line is still broken rather than overflowing.
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .break_words(true);
    textwrap::wrap(text, options)
        .into_iter()
        .map(|line| line.into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_width_with_its_indent() {
        let text = "word ".repeat(80) + &"x".repeat(150);
        let lines = indented(&text, 60, "  fix: ", "       ");
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:#?}");
        assert!(lines[0].starts_with("  fix: word"));
        assert!(lines[1].starts_with("       word"));
    }

    #[test]
    fn hyphenated_ids_are_not_split() {
        let text =
            "a finding of http-cross-tenant-read on tenant d0e6e535-2afd-4201-aeb9-8248364bacc8";
        for width in 40..70 {
            let lines = indented(text, width, "", "");
            assert!(
                lines.iter().any(|l| l.contains("http-cross-tenant-read"))
                    && lines
                        .iter()
                        .any(|l| l.contains("d0e6e535-2afd-4201-aeb9-8248364bacc8")),
                "{width}: {lines:#?}"
            );
        }
    }
}
