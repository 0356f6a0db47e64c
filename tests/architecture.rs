//! The layering `cli → engines → primitives`, read from `src/` as text: no module of one engine
//! names a sibling engine, and no primitive names an engine or the layer above. Every `crate::`
//! and `super::` path counts (grouped `use` lines expanded, comments and strings skipped), so a
//! violation prints its file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The engines: each may use its own modules and the primitives, never another engine.
const ENGINES: &[&str] = &[
    "audit",
    "attack::db",
    "attack::http",
    "attack::admin",
    "attack::noisy",
    "cache",
    "monitor",
];

/// Modules above the engines, which compose them: the binary, the rule registry, the reports and
/// the demo. Everything else is a primitive.
const COMPOSERS: &[&str] = &["main", "cli", "registry", "report", "demo"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Composer,
    Engine(&'static str),
    Primitive,
}

fn layer(module: &[String]) -> Layer {
    let joined = module.join("::");
    if let Some(engine) = ENGINES
        .iter()
        .find(|e| joined == **e || joined.starts_with(&format!("{e}::")))
    {
        return Layer::Engine(engine);
    }
    match module.first() {
        Some(first) if COMPOSERS.contains(&first.as_str()) => Layer::Composer,
        _ => Layer::Primitive,
    }
}

/// `src/attack/db/mod.rs` → `attack::db`; `src/lib.rs` → the crate root.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The source with comments, string and character literals blanked (newlines kept), so that
/// offsets and line numbers stay those of the file.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !i
                .checked_sub(1)
                .is_some_and(|p| chars[p].is_alphanumeric() || chars[p] == '_')
        {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let end = rest.find(&closing).map_or(chars.len(), |e| {
                j + 1 + rest[..e].chars().count() + closing.len()
            });
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal (`'\''`, `'\u{1F600}'`): up to its closing quote.
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Reads one path at `text[at..]` (after `crate::` or the `super::` chain): segments joined by
/// `::`, ending in a name, `*`, or a `{…}` group, which is expanded into one path per member.
fn paths_at(text: &str, at: usize) -> Vec<Vec<String>> {
    let rest = &text[at..];
    let mut prefix: Vec<String> = Vec::new();
    let mut i = 0;
    let bytes = rest.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            let mut depth = 0;
            let mut start = i + 1;
            let mut members = Vec::new();
            for (j, &b) in bytes.iter().enumerate().skip(i) {
                match b {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            members.push(&rest[start..j]);
                            break;
                        }
                    }
                    b',' if depth == 1 => {
                        members.push(&rest[start..j]);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return members
                .into_iter()
                .filter(|m| !m.trim().is_empty())
                .flat_map(|m| {
                    paths_at(m.trim(), 0).into_iter().map(|tail| {
                        let mut full = prefix.clone();
                        full.extend(tail.into_iter().filter(|s| s != "self"));
                        full
                    })
                })
                .collect();
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            return vec![prefix];
        }
        prefix.push(rest[start..i].to_owned());
        if rest[i..].starts_with("::") {
            i += 2;
        } else {
            return vec![prefix];
        }
    }
}

/// How many inline `mod name {` blocks enclose each byte of `code`.
fn inline_depths(code: &str) -> Vec<usize> {
    let mut depths = Vec::with_capacity(code.len());
    let mut stack: Vec<bool> = Vec::new();
    for (i, c) in code.char_indices() {
        if c == '{' {
            let before = code[..i].trim_end();
            let words: Vec<&str> = before
                .rsplit(|ch: char| ch.is_whitespace())
                .take(2)
                .collect();
            stack.push(words.len() == 2 && words[1] == "mod");
        } else if c == '}' {
            stack.pop();
        }
        let depth = stack.iter().filter(|m| **m).count();
        depths.extend(std::iter::repeat_n(depth, c.len_utf8()));
    }
    depths
}

/// Every path of `source` (the file of `module`) that leaves its layer: (line, path, why).
fn violations(module: &[String], source: &str) -> Vec<(usize, String, String)> {
    let from = layer(module);
    if from == Layer::Composer {
        return Vec::new();
    }
    let code = code_only(source);
    let depths = inline_depths(&code);
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b':'));
        let rest = &code[i..];
        let (base, after) = if boundary && rest.starts_with("crate::") {
            (Some(Vec::new()), i + "crate::".len())
        } else if boundary && rest.starts_with("super::") {
            let mut ups = 0;
            let mut j = i;
            while code[j..].starts_with("super::") {
                ups += 1;
                j += "super::".len();
            }
            let inline = depths.get(i).copied().unwrap_or(0);
            // `super` inside the file's own inline modules stays in the file.
            let base = (ups > inline).then(|| {
                let up = ups - inline;
                module[..module.len().saturating_sub(up)].to_vec()
            });
            (base, j)
        } else {
            i += 1;
            continue;
        };
        if let Some(base) = base {
            let line = code[..i].matches('\n').count() + 1;
            for tail in paths_at(&code, after) {
                let mut path = base.clone();
                path.extend(tail);
                let to = layer(&path);
                let why = match (from, to) {
                    (Layer::Engine(a), Layer::Engine(b)) if a != b => {
                        Some(format!("engine `{a}` imports engine `{b}`"))
                    }
                    (Layer::Engine(a), Layer::Composer) => {
                        Some(format!("engine `{a}` imports the layer above"))
                    }
                    (Layer::Primitive, Layer::Engine(b)) => {
                        Some(format!("primitive imports engine `{b}`"))
                    }
                    (Layer::Primitive, Layer::Composer) => {
                        Some("primitive imports the layer above".to_owned())
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    found.push((line, path.join("::"), why));
                }
            }
        }
        i = after;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_engine_imports_a_sibling_and_no_primitive_imports_an_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "src/ holds {} files?", files.len());
    let mut report = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let source = std::fs::read_to_string(file).unwrap();
        for (line, path, why) in violations(&module_of(relative), &source) {
            report.push(format!(
                "src/{}:{line}: `{path}`: {why}",
                relative.display()
            ));
        }
    }
    assert!(
        report.is_empty(),
        "layering broken (cli → engines → primitives):\n{}",
        report.join("\n")
    );
}

fn module(path: &str) -> Vec<String> {
    module_of(Path::new(path))
}

#[test]
fn a_sibling_engine_in_a_grouped_use_is_caught_with_its_line() {
    let source = "//! doc\n\nuse crate::{finding::Finding,\n    attack::{http::world::values_for, db::Thing}};\n";
    let found = violations(&module("attack/noisy/mod.rs"), source);
    let paths: Vec<(usize, &str)> = found.iter().map(|(l, p, _)| (*l, p.as_str())).collect();
    assert_eq!(
        paths,
        [
            (3, "attack::http::world::values_for"),
            (3, "attack::db::Thing")
        ]
    );
}

#[test]
fn super_paths_resolve_from_the_file_and_its_inline_modules() {
    let outside = "fn f() { super::super::db::json_text(); }";
    assert_eq!(
        violations(&module("attack/http/steps.rs"), outside).len(),
        1
    );
    let own = "fn f() { super::world::build(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::rules;\n}\n";
    assert!(violations(&module("attack/http/steps.rs"), own).is_empty());
}

#[test]
fn a_primitive_naming_an_engine_is_caught_but_comments_and_strings_are_not() {
    let source = "// crate::audit::judge\nconst SQL: &str = \"crate::cache\";\nconst RAW: &str = r#\"crate::monitor\"#;\nconst Q: char = '\"';\nfn f() { crate::audit::judge(); }\n";
    let found = violations(&module("catalog/scope.rs"), source);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 5);
    assert_eq!(found[0].1, "audit::judge");
    assert!(violations(&module("cli/audit.rs"), source).is_empty());
}
