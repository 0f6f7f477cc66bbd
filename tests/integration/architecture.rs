//! The layer order of ARCHITECTURE.md, checked on the source itself, so it
//! cannot rot silently:
//!
//! - a module imports only the modules below it (`use crate::…`, grouped
//!   `use crate::{…}`, `super::` paths and inline `crate::x::f()` calls all
//!   count; unit tests at the end of a file do not);
//! - no two files import each other, directly or through a loop of files.
//!   A name imported through a folder's `mod.rs` counts as an import of the
//!   file that defines it (the re-exports are followed), and of the `mod.rs`
//!   itself only for what it defines; so a hub cannot hide a loop.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::repo_path;

/// The layers, lowest first. A module may import those before it.
const LAYERS: &[&str] = &[
    "util",
    "field",
    "model",
    "transform",
    "telemetry",
    "metrics",
    "engine",
    "tune",
    "session",
    "mix",
    "samples",
    "ui",
    "cli",
];

/// One source file: its module path (`["engine", "verify"]`) and its code
/// without comments and without the trailing unit-test module.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    /// `mod.rs` (or `lib.rs`): the folder's hub.
    is_hub: bool,
    code: String,
}

fn source_files() -> Vec<SourceFile> {
    let root = repo_path("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let is_hub = matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            );
            if is_hub {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            files.push(SourceFile {
                path: relative.to_path_buf(),
                module,
                is_hub,
                code: strip(&text),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The code without `//` comments and without a trailing `#[cfg(test)]`
/// module (test helpers may reach anywhere).
fn strip(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or(line);
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Every path the code names that starts with `crate::`, `super::` or
/// `self::`, resolved to an absolute module path (items included; the
/// caller matches prefixes). Grouped imports are expanded.
fn imported_paths(file: &SourceFile) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let code = &file.code;
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts_path = ["crate::", "super::", "self::"]
            .iter()
            .any(|prefix| rest.starts_with(prefix));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let after_colons = i >= 2 && &bytes[i - 2..i] == b"::";
        if !(starts_path && boundary && !after_colons) {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let (tree, used) = read_tree(rest);
        for relative in expand(&tree) {
            if let Some(absolute) = resolve(&file.module, &relative) {
                paths.push(absolute);
            }
        }
        i += used.max(1);
    }
    paths
}

/// Reads a path or a use tree (`a::b::{c, d::{e}}`) at the start of `text`;
/// returns it without whitespace and the bytes read.
fn read_tree(text: &str) -> (String, usize) {
    let mut tree = String::new();
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            // A group opens only right after `::`; otherwise the path ended
            // (`if kind != crate::engine::Kind::Cpu {`).
            '{' if depth == 0 && !tree.ends_with("::") => return (tree, index),
            '{' => depth += 1,
            '}' if depth == 0 => return (tree, index),
            '}' => depth -= 1,
            c if c.is_whitespace() && depth == 0 && !tree.ends_with("::") => {
                return (tree, index);
            }
            c if c.is_whitespace() => continue,
            c if c.is_alphanumeric() || matches!(c, '_' | ':' | '*') => {}
            ',' if depth > 0 => {}
            _ if depth == 0 => return (tree, index),
            _ => {}
        }
        tree.push(c);
    }
    (tree, text.len())
}

/// `a::{b, c::{d, e}}` → `[a::b, a::c::d, a::c::e]`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (index, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .flat_map(|part| {
            expand(part)
                .into_iter()
                .map(|tail| match tail.as_str() {
                    "self" => prefix.trim_end_matches("::").to_owned(),
                    _ => format!("{prefix}{tail}"),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An absolute module path for `relative`, seen from `module`.
fn resolve(module: &[String], relative: &str) -> Option<Vec<String>> {
    let mut segments = relative.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Vec<String> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        // In `a/b.rs`, `self` is `a::b`; in `a/mod.rs` it is `a`.
        Some("self" | "super") => module.to_vec(),
        _ => return None,
    };
    while let Some(segment) = segments.peek().copied() {
        match segment {
            "self" => {
                segments.next();
            }
            "super" => {
                segments.next();
                base.pop()?;
            }
            _ => break,
        }
    }
    base.extend(segments.map(str::to_owned));
    Some(base)
}

/// Where a name a hub offers comes from.
enum HubName {
    /// `pub use child::…::Name`: the absolute path it re-exports.
    Reexport(Vec<String>),
    /// An item the hub defines itself.
    Defined,
}

/// The names a hub (`mod.rs`) offers: its `pub use` re-exports (relative
/// to the hub, or `crate::`/`super::` paths) and the items it defines.
fn names_of_hub(hub: &SourceFile) -> BTreeMap<String, HubName> {
    let mut names = BTreeMap::new();
    let code = &hub.code;
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(tree) = ["pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|prefix| statement.strip_prefix(prefix))
        else {
            continue;
        };
        let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
        for relative in expand(&tree) {
            let absolute = if relative.starts_with("crate::")
                || relative.starts_with("super::")
                || relative.starts_with("self::")
            {
                resolve(&hub.module, &relative)
            } else {
                let mut path = hub.module.clone();
                path.extend(relative.split("::").map(str::to_owned));
                Some(path)
            };
            if let Some(absolute) = absolute
                && let Some(name) = absolute.last()
            {
                names.insert(name.clone(), HubName::Reexport(absolute.clone()));
            }
        }
    }
    for keyword in ["struct", "enum", "fn", "const", "static", "type", "trait"] {
        let pattern = format!("{keyword} ");
        for (index, _) in code.match_indices(&pattern) {
            let before = code[..index].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = code[index + pattern.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.entry(name).or_insert(HubName::Defined);
            }
        }
    }
    names
}

/// The file that defines what `path` names: the longest module prefix,
/// followed through hub re-exports; a hub only when it defines the name
/// (or the path names the folder itself).
fn defining_file<'a>(
    path: &[String],
    by_module: &BTreeMap<Vec<String>, &'a SourceFile>,
    hub_names: &BTreeMap<&Path, BTreeMap<String, HubName>>,
) -> Option<&'a SourceFile> {
    let mut path = path.to_vec();
    // Re-exports of re-exports, a few deep at most.
    for _ in 0..8 {
        let target = (1..=path.len())
            .rev()
            .find_map(|len| by_module.get(&path[..len]))?;
        if !target.is_hub {
            return Some(target);
        }
        let name = path.get(target.module.len())?;
        match hub_names.get(target.path.as_path())?.get(name) {
            Some(HubName::Reexport(absolute)) if absolute.as_slice() != path.as_slice() => {
                let mut next = absolute.clone();
                next.extend(path[target.module.len() + 1..].iter().cloned());
                path = next;
            }
            Some(HubName::Defined) => return Some(target),
            _ => return None,
        }
    }
    None
}

fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|layer| layer == top)
}

#[test]
fn every_top_level_module_has_a_layer() {
    for file in source_files() {
        if file.module.is_empty() {
            continue; // lib.rs and main.rs sit above everything.
        }
        assert!(
            layer_of(&file.module).is_some(),
            "{} belongs to a module that is not in LAYERS; add it to ARCHITECTURE.md and this test",
            file.path.display()
        );
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let mut violations = BTreeSet::new();
    for file in source_files() {
        let Some(own) = layer_of(&file.module) else {
            continue;
        };
        for path in imported_paths(&file) {
            if let Some(target) = layer_of(&path)
                && target > own
            {
                violations.insert(format!(
                    "{} ({}) imports {} ({})",
                    file.path.display(),
                    LAYERS[own],
                    path.join("::"),
                    LAYERS[target]
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layer order {}:\n{}",
        LAYERS.join(" → "),
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_loop() {
    let files = source_files();
    let by_module: BTreeMap<Vec<String>, &SourceFile> =
        files.iter().map(|f| (f.module.clone(), f)).collect();
    // Edges between files. A name imported through a hub (`use super::X`
    // where `mod.rs` re-exports `X` from a child) is an edge to the file
    // that defines it, so a hub cannot hide a loop; a name the hub defines
    // itself is an edge to the hub's file.
    let hub_names: BTreeMap<&Path, BTreeMap<String, HubName>> = files
        .iter()
        .filter(|file| file.is_hub)
        .map(|file| (file.path.as_path(), names_of_hub(file)))
        .collect();
    let mut edges: BTreeMap<&Path, BTreeSet<&Path>> = BTreeMap::new();
    for file in &files {
        for path in imported_paths(file) {
            let Some(target) = defining_file(&path, &by_module, &hub_names) else {
                continue;
            };
            if target.path != file.path {
                edges
                    .entry(file.path.as_path())
                    .or_default()
                    .insert(target.path.as_path());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        node: &'a Path,
        edges: &BTreeMap<&'a Path, BTreeSet<&'a Path>>,
        on_stack: &mut Vec<&'a Path>,
        done: &mut BTreeSet<&'a Path>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(position) = on_stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = on_stack[position..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            cycle.push(node.display().to_string());
            cycles.push(cycle.join(" → "));
            return;
        }
        on_stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, on_stack, done, cycles);
        }
        on_stack.pop();
        done.insert(node);
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_parser_reads_grouped_and_relative_imports() {
    let file = SourceFile {
        path: PathBuf::from("engine/verify.rs"),
        module: vec!["engine".to_owned(), "verify".to_owned()],
        is_hub: false,
        code: strip(
            "use super::{EngineError, inputs::{self, TensorData}};\n\
             use crate::transform::{self, Precision};\n\
             // use crate::ui::Nothing;\n\
             fn f() { crate::model::node::attr_int(x, \"group\"); }\n\
             fn g() { if kind != crate::engine::Kind::Cpu { return; } }\n\
             #[cfg(test)]\n\
             mod tests { use crate::cli::Cli; }\n",
        ),
    };
    let paths: BTreeSet<String> = imported_paths(&file)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    let expected: BTreeSet<String> = [
        "engine::EngineError",
        "engine::inputs",
        "engine::inputs::TensorData",
        "transform",
        "transform::Precision",
        "model::node::attr_int",
        "engine::Kind::Cpu",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(paths, expected);
}
