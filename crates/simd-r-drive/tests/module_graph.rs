//! The engine's modules import each other without cycles, and none imports `store` for
//! helpers.
//!
//! Reads the crate's own sources: every `crate::<name>` path outside comments (in `use`
//! lines and inline) is an edge from the top-level module of the file it is in to module
//! `<name>`; a name the crate root re-exports (`crate::page_size`) is an edge to the module
//! it comes from. Files in a folder (`store/read.rs`) belong to that folder's module, and
//! `super::` inside it stays inside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs");
    (name != "lib").then(|| name.to_string())
}

/// `text` without comments: `//` to the end of the line and `/* */` blocks, outside
/// string and character literals. Doc comments are comments too, so intra-doc links are
/// not edges.
fn strip_comments(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            '"' => {
                out.push('"');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        out.push(c[i]);
                        i += 1;
                    }
                    if i < c.len() {
                        out.push(c[i]);
                        i += 1;
                    }
                }
                out.push('"');
                i += 1;
            }
            // A character literal ('"', '\\'', '/'), not a lifetime.
            '\'' if c.get(i + 1) == Some(&'\\') || c.get(i + 2) == Some(&'\'') => {
                let close = (i + 2..c.len()).find(|&j| c[j] == '\'' && c[j - 1] != '\\');
                let close = close.unwrap_or(i + 2).max(i + 2);
                i = close + 1;
                out.push_str("' '");
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Each `crate::a::b` path in `code` as its segments after `crate`; a group
/// (`crate::{a, b::C}`, `crate::a::{B, C}`) gives one path per member.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or part of a longer name
        }
        let rest = &code[from..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let prefix = segments(&rest[..end]);
        if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').map_or(rest.len(), |c| end + c);
            for member in rest[end + 1..close].split(',') {
                let mut path = prefix.clone();
                path.extend(segments(member.trim()));
                if !path.is_empty() {
                    paths.push(path);
                }
            }
        } else if !prefix.is_empty() {
            paths.push(prefix);
        }
    }
    paths
}

/// The segments of `a::b::C` (up to the first that is not a plain name).
fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.trim().to_string())
        .take_while(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect()
}

/// Names the crate root re-exports (`pub use window::{page_size, ...}`), with the module
/// each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in strip_comments(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let item = item.trim();
            if !item.is_empty() {
                names.insert(item.to_string(), module.to_string());
            }
        }
    }
    names
}

struct Graph {
    /// module -> modules it uses, each with one file that does
    edges: BTreeMap<String, BTreeMap<String, PathBuf>>,
    /// (file, item) for every item a module other than `store` imports from `crate::store`
    from_store: Vec<(PathBuf, String)>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut g = Graph {
        edges: BTreeMap::new(),
        from_store: Vec::new(),
    };
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        let code = strip_comments(&std::fs::read_to_string(file).unwrap());
        for path in crate_paths(&code) {
            let Some(first) = path.first() else { continue };
            let to = if modules.contains(first) {
                first.clone()
            } else if let Some(m) = reexports.get(first) {
                m.clone()
            } else {
                panic!(
                    "{}: crate::{} is neither a module nor a root re-export",
                    file.display(),
                    path.join("::")
                );
            };
            if to == "store" && from != "store" {
                let item = path.get(1).cloned().unwrap_or_else(|| "self".into());
                g.from_store.push((file.clone(), item));
            }
            if to != from {
                g.edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| file.clone());
            }
        }
    }
    g
}

/// A cycle through `start`, if there is one: the modules on it, `start` first.
fn cycle_from(g: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &Graph,
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.edges.get(at).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn engine_modules_import_each_other_without_cycles() {
    let g = graph();
    assert!(
        g.edges.len() > 10,
        "the scan found too few modules: {:?}",
        g.edges.keys()
    );
    let mut cycles = Vec::new();
    for m in g.edges.keys() {
        if let Some(c) = cycle_from(&g, m) {
            let shown: Vec<String> = c
                .iter()
                .zip(c.iter().cycle().skip(1))
                .map(|(a, b)| format!("{a} -> {b} ({})", g.edges[a][b].display()))
                .collect();
            cycles.push(shown.join(", "));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn no_module_imports_store_for_helpers() {
    // Modules that add methods to `Store` (compact, follow, repair, stream) import the
    // store's types; helpers they share live in their own modules (load, files, hash).
    let helpers: Vec<String> = graph()
        .from_store
        .into_iter()
        .filter(|(_, item)| !item.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|(file, item)| format!("{}: crate::store::{item}", file.display()))
        .collect();
    assert!(
        helpers.is_empty(),
        "helpers imported from store:\n{}",
        helpers.join("\n")
    );
}

#[test]
fn the_scan_sees_edges_and_cycles() {
    // The scanner itself: paths in code count, paths in comments do not, and a cycle is
    // found when there is one.
    let code = strip_comments(
        "use crate::{a, b::C};\n/// [`crate::doc`]\nfn f() { crate::d::g(); } // crate::e\n\
         /* crate::h */ let q = '\"'; let r = \"// \\\" \"; crate::i::j();\n\
         use crate::store::{State, Store};\n",
    );
    let paths: Vec<String> = crate_paths(&code)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        ["a", "b::C", "d::g", "i::j", "store::State", "store::Store"]
    );
    let mut edges: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    edges
        .entry("x".into())
        .or_default()
        .insert("y".into(), "x.rs".into());
    edges
        .entry("y".into())
        .or_default()
        .insert("z".into(), "y.rs".into());
    let acyclic = Graph {
        edges: edges.clone(),
        from_store: Vec::new(),
    };
    assert!(cycle_from(&acyclic, "x").is_none());
    edges
        .entry("z".into())
        .or_default()
        .insert("x".into(), "z.rs".into());
    let cyclic = Graph {
        edges,
        from_store: Vec::new(),
    };
    assert_eq!(cycle_from(&cyclic, "x").unwrap(), ["x", "y", "z"]);
}

/// The string literals in `code` (comments already stripped), without their quotes.
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(open) = rest.find('"') {
        let body = &rest[open + 1..];
        let mut end = 0;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        out.push(body[..end].to_string());
        rest = &body[(end + 1).min(body.len())..];
    }
    out
}

#[test]
fn side_file_names_are_spelled_only_in_files_rs() {
    // The suffixes the engine appends to a store file's name; the `files` module is the one
    // place that spells them, so that a rename (or a binding mirroring them) has one source.
    const SIDE_FILES: [&str; 8] = [
        ".lock",
        ".srd-index",
        ".torn-",
        ".damaged",
        ".upload-",
        ".init",
        ".compact",
        ".repair",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("files.rs")) {
        let code = strip_comments(&std::fs::read_to_string(file).unwrap());
        for lit in string_literals(&code) {
            if SIDE_FILES.iter().any(|s| lit.starts_with(s)) {
                found.push(format!("{}: \"{lit}\"", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "side-file names spelled outside files.rs:\n{}",
        found.join("\n")
    );
    assert_eq!(
        string_literals(&strip_comments(
            r#"let a = ".lock"; f("x\"y", '"'); // ".b""#
        )),
        [".lock", "x\\\"y"]
    );
}
