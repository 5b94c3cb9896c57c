//! The engine's module import graph, read from its sources: every `use
//! crate::...` (and `super::`, and a child module's name) and every
//! `crate::x::` path in code, outside the tests at the bottom of a file.
//!
//! Architecture invariant, checked: the engine's modules form layers
//! ([`LAYERS`], lowest first), a module imports only from its own layer or
//! a lower one, and no imports close a cycle
//! (`imports_point_down_without_cycles`).
//!
//! `cargo test -p race-hunt --lib layers::import_graph -- --nocapture`
//! prints the graph: its module-to-module edges, the ones that point up
//! the layers, and its cycles. `RACE_HUNT_SRC=DIR` reads another source
//! tree (an older checkout) with the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, and the modules in each. A module imports
/// only from its own layer or lower ones. A module not listed takes the
/// layer of its closest listed parent.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "outcome",
            "exit",
            "shell",
            "stats",
            "root",
            "knobs",
            "budget",
            "target",
            "prerequisite",
            "fingerprint",
            "cell",
            "invocation",
        ],
    ),
    ("tools", &["process", "builds", "nextest", "provision", "cpu"]),
    ("detection", &["detector", "detectors"]),
    ("configuration", &["manifest", "plan", "changes", "baseline", "ci_spec"]),
    ("grading", &["grade"]),
    ("execution", &["probe", "cells"]),
    ("reporting", &["report", "matrix", "junit", "github", "sarif"]),
    ("session", &["session"]),
    (
        "commands",
        &[
            "lib",
            "race_hunt",
            "ci",
            "replay",
            "setup",
            "calibrate",
            "bench_suite",
            "init",
            "baseline_cmd",
            "detectors::tsan::bench",
        ],
    ),
];

/// A module's path below the crate root (`detectors::tsan::report`); the
/// crate root itself is `lib`.
type Module = String;

struct Source {
    module: Module,
    file: PathBuf,
    code: String,
}

fn src_dir() -> PathBuf {
    match std::env::var_os("RACE_HUNT_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

/// Every `.rs` file under `src`, except this file (all test code) and
/// what is under a directory of `skip`: what the source-scanning tests read.
pub(crate) fn rust_files(src: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !skip.contains(&path) {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && path != src.join("layers.rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Every module file under `src` (not `bin/`, not this test).
fn sources(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    for path in rust_files(src, &[src.join("bin")]) {
        let rel = path.strip_prefix(src).unwrap().with_extension("");
        let module = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>();
        let module = if module == ["lib"] { "lib".to_string() } else { module.join("::") };
        let text = std::fs::read_to_string(&path).unwrap();
        out.push(Source { module, file: path, code: code_of(&text) });
    }
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

/// The code of a file: without its `#[cfg(test)]` items, without
/// comments, and with empty string literals.
fn code_of(text: &str) -> String {
    let mut code = lex(text);
    while let Some(at) = code.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let end = match code[after..].find(['{', ';']).map(|i| after + i) {
            Some(i) if code[i..].starts_with('{') => {
                let mut depth = 0;
                let mut end = code.len();
                for (j, c) in code[i..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            Some(i) => i + 1,
            None => code.len(),
        };
        code.replace_range(at..end, "");
    }
    code
}

/// Rust source without comments, its string and char literals emptied.
fn lex(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && (i == 0 || !is_ident(chars[i - 1])) {
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < chars.len()
                && !(chars[i] == '"' && chars[i + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes)
            {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A char literal ('"', '\'', '\u{..}'); a lifetime has no
            // closing quote.
            if next == Some('\\') {
                // Past the escape's first char, then to the closing quote.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                i += 3;
            }
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `use` declarations of some code (each as written, `pub use ...`,
/// without its `;`), and the code without them.
fn split_uses(code: &str) -> (Vec<String>, String) {
    let mut uses = Vec::new();
    let mut rest = String::new();
    let mut lines = code.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if !["pub use ", "pub(crate) use ", "pub(super) use ", "use "].iter().any(|p| t.starts_with(p)) {
            rest.push_str(line);
            continue;
        }
        let mut decl = t.to_string();
        while !decl.contains(';') {
            match lines.next() {
                Some(more) => decl.push_str(more),
                None => break,
            }
        }
        let decl = decl.split(';').next().unwrap_or("");
        uses.push(decl.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    (uses, rest)
}

/// A use tree's paths: `crate::{a, b::{self, c}}` is `crate::a`,
/// `crate::b`, `crate::b::c`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    expand_into(tree, &[], &mut out);
    out
}

fn expand_into(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let segments =
        |s: &str| s.split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
    let mut base = prefix.to_vec();
    if let Some(open) = tree.find('{') {
        base.extend(segments(&tree[..open]));
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_into(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            expand_into(&inner[start..], &base, out);
        }
        return;
    }
    // `a::b as c` is `a::b`; `{self}` is the prefix itself.
    let path = tree.split_whitespace().next().unwrap_or("");
    base.extend(segments(path).into_iter().filter(|s| s != "self" || prefix.is_empty()));
    if !base.is_empty() {
        out.push(base);
    }
}

/// The `crate::`, `super::` and `self::` paths written in code.
fn code_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let i = from + at;
            from = i + start.len();
            if i > 0 && is_ident(code[..i].chars().last().unwrap()) {
                continue;
            }
            let path: String = code[i..].chars().take_while(|&c| is_ident(c) || c == ':').collect();
            out.push(path.split("::").filter(|s| !s.is_empty()).map(String::from).collect());
        }
    }
    out
}

/// The module a path names, seen from `module`: the longest prefix of
/// its absolute form that is a module. `None` for another crate's path
/// or for `module` itself.
fn resolve(module: &str, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let here: Vec<String> = if module == "lib" { Vec::new() } else { module.split("::").map(String::from).collect() };
    let mut abs: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            abs = Vec::new();
            rest = &path[1..];
        }
        Some("super") | Some("self") => {
            abs = here.clone();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        abs.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A child module's name (`pub use tsan::bench::BenchTsan`);
            // anything else is another crate.
            let mut child = here.clone();
            child.push(first.to_string());
            if !modules.contains(&child.join("::")) {
                return None;
            }
            abs = here.clone();
        }
        None => return None,
    }
    abs.extend(rest.iter().cloned());
    let target = (0..=abs.len())
        .rev()
        .map(|n| if n == 0 { "lib".to_string() } else { abs[..n].join("::") })
        .find(|m| modules.contains(m))?;
    (target != module).then_some(target)
}

/// Module → the modules it imports, each with the import's text.
fn graph(sources: &[Source]) -> BTreeMap<Module, BTreeMap<Module, String>> {
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph = BTreeMap::new();
    for s in sources {
        let edges: &mut BTreeMap<Module, String> = graph.entry(s.module.clone()).or_default();
        let (uses, rest) = split_uses(&s.code);
        let paths = uses
            .iter()
            .flat_map(|u| {
                let tree = &u[u.find("use ").unwrap() + 4..];
                expand(tree).into_iter().map(move |p| (p, u.clone()))
            })
            .chain(code_paths(&rest).into_iter().map(|p| {
                let text = p.join("::");
                (p, text)
            }));
        for (path, text) in paths {
            let Some(target) = resolve(&s.module, &path, &modules) else { continue };
            if path.last().is_some_and(|l| l == "*") {
                // A glob brings the module's submodules in too.
                for child in
                    modules.iter().filter(|m| m.strip_prefix(&format!("{target}::")).is_some_and(|r| !r.contains("::")))
                {
                    if *child != s.module {
                        edges.entry(child.clone()).or_insert_with(|| text.clone());
                    }
                }
            }
            edges.entry(target).or_insert(text);
        }
    }
    graph
}

/// A module's layer: its own entry in [`LAYERS`] or its closest parent's.
fn layer_of(module: &str) -> Option<usize> {
    let mut m = module;
    loop {
        if let Some(i) = LAYERS.iter().position(|(_, ms)| ms.contains(&m)) {
            return Some(i);
        }
        m = &m[..m.rfind("::")?];
    }
}

/// `inner` is declared inside `outer` (`detectors::tsan::bench` inside
/// `detectors`).
fn within(inner: &str, outer: &str) -> bool {
    outer == "lib" || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with("::"))
}

/// What the graph breaks.
struct Findings {
    modules: usize,
    edges: usize,
    /// `file: from (layer) -> to (layer): the import`.
    upward: Vec<String>,
    cycles: Vec<Vec<Module>>,
    unassigned: BTreeSet<Module>,
}

/// The rule: a module imports only from its own layer or a lower one (a
/// module may re-export, `pub use`, items of a submodule it declares), and
/// no modules import each other around a cycle (a submodule's imports of
/// its own parent do not count here: it is part of it and sees its items).
fn check(src: &Path, sources: &[Source], graph: &BTreeMap<Module, BTreeMap<Module, String>>) -> Findings {
    let file = |m: &str| {
        sources.iter().find(|s| s.module == m).map(|s| s.file.strip_prefix(src).unwrap().display().to_string())
    };
    let mut upward = Vec::new();
    let mut unassigned = BTreeSet::new();
    for (from, targets) in graph {
        for (to, text) in targets {
            match (layer_of(from), layer_of(to)) {
                (Some(a), Some(b)) if b > a && !(within(to, from) && text.starts_with("pub use ")) => {
                    upward.push(format!(
                        "{}: {from} ({}) -> {to} ({}): {text}",
                        file(from).unwrap_or_default(),
                        LAYERS[a].0,
                        LAYERS[b].0
                    ))
                }
                (Some(_), Some(_)) => {}
                (a, b) => {
                    if a.is_none() {
                        unassigned.insert(from.clone());
                    }
                    if b.is_none() {
                        unassigned.insert(to.clone());
                    }
                }
            }
        }
    }
    let without_parents: BTreeMap<Module, BTreeMap<Module, String>> = graph
        .iter()
        .map(|(from, targets)| {
            let targets = targets
                .iter()
                .filter(|(to, _)| !within(to, from) && !within(from, to))
                .map(|(t, x)| (t.clone(), x.clone()));
            (from.clone(), targets.collect())
        })
        .collect();
    Findings {
        modules: graph.len(),
        edges: graph.values().map(BTreeMap::len).sum(),
        upward,
        cycles: cycles(&without_parents),
        unassigned,
    }
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<Module, BTreeMap<Module, String>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeMap<Module, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|e| e.keys()) {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[w.as_str()].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.index[w.as_str()].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Prints the graph; `RACE_HUNT_GRAPH=1` prints every edge too.
#[test]
fn import_graph() {
    let src = src_dir();
    let sources = sources(&src);
    let graph = graph(&sources);
    let f = check(&src, &sources, &graph);
    println!("{} modules, {} module-to-module edges", f.modules, f.edges);
    println!("{} upward edges:", f.upward.len());
    for e in &f.upward {
        println!("  {e}");
    }
    for c in &f.cycles {
        println!("cycle of {} modules: {}", c.len(), c.join(", "));
    }
    if !f.unassigned.is_empty() {
        println!("modules in no layer: {:?}", f.unassigned);
    }
    if std::env::var_os("RACE_HUNT_GRAPH").is_some() {
        for (from, targets) in &graph {
            for (to, text) in targets {
                println!("  {from} -> {to}: {text}");
            }
        }
    }
}

/// Fails naming the file and the import that points up a layer, the
/// modules and imports of a cycle, a module no layer holds, and a table
/// entry that names no module.
#[test]
fn imports_point_down_without_cycles() {
    let src = src_dir();
    let sources = sources(&src);
    let graph = graph(&sources);
    let f = check(&src, &sources, &graph);
    let mut problems: Vec<String> = f.upward.iter().map(|e| format!("imports from a higher layer: {e}")).collect();
    for cycle in &f.cycles {
        let mut imports = Vec::new();
        for from in cycle {
            let file = sources
                .iter()
                .find(|s| &s.module == from)
                .map(|s| s.file.strip_prefix(&src).unwrap().display().to_string());
            for (to, text) in &graph[from] {
                if cycle.contains(to) && !within(from, to) {
                    imports.push(format!("{}: {from} -> {to}: {text}", file.clone().unwrap_or_default()));
                }
            }
        }
        problems.push(format!("a cycle of {} modules: {}", cycle.len(), imports.join("; ")));
    }
    for m in &f.unassigned {
        problems.push(format!("{m} is in no layer: add it to LAYERS in layers.rs"));
    }
    for (layer, modules) in LAYERS {
        for m in *modules {
            if !graph.contains_key(*m) {
                problems.push(format!("LAYERS places `{m}` in {layer}, but there is no such module"));
            }
        }
    }
    assert!(problems.is_empty(), "the engine's layers (see ARCHITECTURE.md, Layers): {problems:#?}");
}

#[test]
fn the_reader_sees_imports_not_strings_comments_or_tests() {
    let text = r#"
use crate::a::{self, b::{C, D as E}};
pub use child::X;
// use crate::commented;
fn f() -> char {
    let _ = "use crate::quoted;";
    let _ = ['\'', '-', '\u{1F600}', '"'];
    let _ = crate::c::f();
    '"'
}
#[cfg(test)]
mod tests {
    use crate::tested;
}
"#;
    let (uses, rest) = split_uses(&code_of(text));
    assert_eq!(uses, ["use crate::a::{self, b::{C, D as E}}", "pub use child::X"]);
    let mut paths: Vec<Vec<String>> = uses.iter().flat_map(|u| expand(&u[u.find("use ").unwrap() + 4..])).collect();
    paths.extend(code_paths(&rest));
    let paths: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(paths, ["crate::a", "crate::a::b::C", "crate::a::b::D", "child::X", "crate::c::f"]);
}
