//! The layout's rules, checked over the sources (docs/architecture.md):
//! - no import cycle between the library's top-level modules, nor between the sibling modules
//!   of any module (a child using its parent's items is ownership, not a cycle);
//! - no source file over 600 lines outside `transform/` (the corpus crate included), where
//!   the parser's rules stay together.
//!
//! The graph is read from `crate::…` and `super::…` paths in code (comments and unit tests
//! left out), which is how every module here names another.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/run/writer.rs` → `["run", "writer"]`; `src/run/mod.rs` → `["run"]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file: its comments dropped, and its unit tests (the `#[cfg(test)]` module
/// every file keeps at its end).
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" //").next().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Every module path the code names, resolved from `module` (the file's own path).
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !ident(bytes[i - 1]);
        let at = &bytes[i..];
        if !starts_word || !(at.starts_with(b"crate::") || at.starts_with(b"super::")) {
            i += 1;
            continue;
        }
        // An ASCII letter starts here, so `i` is on a character boundary.
        let rest = &code[i..];
        let (base, skip) = if rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else {
            // One `super` per level, counted from the file's module.
            let mut up = 0;
            let mut r = rest;
            while let Some(after) = r.strip_prefix("super::") {
                up += 1;
                r = after;
            }
            let keep = module.len().saturating_sub(up);
            (module[..keep].to_vec(), rest.len() - r.len())
        };
        let tail: String = code[i + skip..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut path = base;
        path.extend(
            tail.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        // `use super::{a::X, b}`: each member of the group is a path of its own.
        let after = &code[i + skip + tail.len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                for member in group_members(group) {
                    let mut p = path.clone();
                    p.extend(
                        member
                            .split("::")
                            .map(str::trim)
                            .take_while(|s| !s.is_empty() && !s.starts_with('{'))
                            .map(str::to_owned),
                    );
                    found.push(p);
                }
            }
            None => found.push(path),
        }
        i += skip;
    }
    found
}

/// The members of a `{…}` group (the text after its `{`), split at its top-level commas.
fn group_members(group: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                members.push(group[start..at].trim());
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(group[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    members.retain(|m| !m.is_empty() && *m != "self");
    members
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The modules of a crate rooted at `root` (its `lib.rs` or `main.rs`) and the graph of
/// which module names which, between siblings.
fn sibling_graphs(
    src: &Path,
    files: &[PathBuf],
) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(src, f)).collect();
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let module = module_path(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_paths(&code(&text), &module) {
            // The deepest pair of siblings that tells the two modules apart: the common
            // parent, the child that names, the child named.
            let common = module
                .iter()
                .zip(&named)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= named.len() {
                continue; // the module itself, an ancestor, or its own child
            }
            let parent = module[..common].to_vec();
            let mut target = parent.clone();
            target.push(named[common].clone());
            if !modules.contains(&target) {
                continue; // an item of the parent, not a module
            }
            graphs
                .entry(parent)
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(named[common].clone());
        }
    }
    graphs
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_cycle_between_modules() {
    let src = source_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // The binary (`main.rs` and `cli/`) is a crate of its own over the library.
    let (bin, lib): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| f.ends_with("main.rs") || f.starts_with(src.join("cli")));
    let mut cycles = Vec::new();
    for crate_files in [&lib, &bin] {
        for (parent, graph) in sibling_graphs(&src, crate_files) {
            if let Some(cycle) = find_cycle(&graph) {
                cycles.push(format!(
                    "in crate::{}: {}",
                    parent.join("::"),
                    cycle.join(" → ")
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle_and_ownership() {
    let module = vec!["run".to_owned(), "writer".to_owned()];
    let named = named_paths(
        &code("use super::Item;\nuse crate::load::retry::retry_until;\n// crate::ignored\n"),
        &module,
    );
    let s = |p: &[&str]| p.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        named,
        [s(&["run", "Item"]), s(&["load", "retry", "retry_until"])]
    );
    let grouped = named_paths("use super::{batcher::run, Shared};\n", &module);
    assert_eq!(
        grouped,
        [s(&["run", "batcher", "run"]), s(&["run", "Shared"])]
    );
    assert!(code("use crate::a;\n// crate::b\n#[cfg(test)]\nuse crate::c;\n").contains("crate::a"));
    assert!(
        !code("use crate::a;\n// crate::b\n#[cfg(test)]\nuse crate::c;\n").contains("crate::c")
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    let dag: BTreeMap<String, BTreeSet<String>> =
        [("a".to_owned(), BTreeSet::from(["b".to_owned()]))].into();
    assert_eq!(find_cycle(&dag), None);
}

#[test]
fn no_module_over_600_lines_outside_transform() {
    let src = source_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // The corpus generator's crate too.
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/src"),
        &mut files,
    );
    let mut long: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("transform")))
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn a_cycle_between_siblings_is_found_at_any_depth() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("run")).unwrap();
    let files = [
        ("lib.rs", "pub mod load;\npub mod run;\n"),
        ("load.rs", "use crate::run::Item;\n"),
        ("run/mod.rs", "mod a;\nmod b;\npub struct Item;\n"),
        ("run/a.rs", "use super::{b::B, Item};\npub struct A;\n"),
        ("run/b.rs", "use super::a::A;\npub struct B;\n"),
    ];
    let mut paths = Vec::new();
    for (name, text) in files {
        std::fs::write(src.join(name), text).unwrap();
        paths.push(src.join(name));
    }
    let graphs = sibling_graphs(src, &paths);
    // `load` names `run`, but nothing names `load` back: no cycle at the top.
    assert_eq!(find_cycle(&graphs[&Vec::new()]), None);
    let inner = &graphs[&vec!["run".to_owned()]];
    assert_eq!(
        find_cycle(inner),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
}
