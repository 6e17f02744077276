//! The source tree has no import cycle: each file's references to other files of the
//! crate (`crate::…`, `super::…`, `self::…` paths, `use` groups included) form a graph
//! without a cycle, so every module can be read, tested and moved on top of the ones below
//! it. A reference is attributed to the deepest file that exists for its path
//! (`crate::a::b::C` → `src/a/b.rs`, else `src/a/b/mod.rs`, else `src/a.rs`, …); test
//! modules at the end of a file and comments are left out, as `mod` declarations are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, by its module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Module = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
            {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The text of a file without its trailing test module and its comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module paths a file's code names, absolute.
fn references(module: &Module, text: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h));
        let boundary = i == 0 || !is_ident(bytes[i - 1]);
        let Some(head) = head.filter(|_| boundary) else {
            i += 1;
            continue;
        };
        let mut base: Module = match head {
            "crate::" => Vec::new(),
            "self::" => module.clone(),
            _ => module[..module.len().saturating_sub(1)].to_vec(),
        };
        i += head.len();
        let mut segments = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            if start == i {
                break;
            }
            let segment: String = bytes[start..i].iter().collect();
            if segment == "super" && segments.is_empty() {
                base.pop();
            } else {
                segments.push(segment);
            }
            if bytes.get(i) == Some(&':') && bytes.get(i + 1) == Some(&':') {
                i += 2;
            } else {
                break;
            }
        }
        let mut path = base.clone();
        path.extend(segments);
        if bytes.get(i) == Some(&'{') {
            let close = bytes[i..]
                .iter()
                .position(|&c| c == '}')
                .map_or(bytes.len(), |p| i + p);
            let group: String = bytes[i + 1..close].iter().collect();
            for item in group.split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                if item.is_empty() || item == "self" || item.starts_with('{') {
                    continue;
                }
                let mut p = path.clone();
                p.extend(item.split("::").map(str::to_owned));
                out.push(p);
            }
            i = close;
        }
        out.push(path);
    }
    out
}

/// The deepest file that exists for `path`.
fn resolve(path: &Module, files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|p| files.contains_key(p))
}

/// Strongly connected sets of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules(src);
    files
        .iter()
        .map(|(module, path)| {
            let targets = references(module, &code(path))
                .iter()
                .filter_map(|p| resolve(p, &files))
                .filter(|t| t != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let edges = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(edges.len() >= 60, "{} files", edges.len());
    let found = cycles(&edges);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("/"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(shown.is_empty(), "import cycles:\n{}", shown.join("\n"));
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "use crate::b::{Thing, other::X};\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "// crate::c::Nothing in a comment\npub fn f() -> super::a::Y { todo!() }\n\
         #[cfg(test)]\nmod tests { use crate::c::Z; }\n",
    )
    .unwrap();
    std::fs::write(src.join("c.rs"), "use crate::b::f;\n").unwrap();
    let edges = graph(src);
    let found = cycles(&edges);
    assert_eq!(
        found,
        vec![vec![vec!["a".to_owned()], vec!["b".to_owned()]]]
    );
    assert!(!edges[&vec!["b".to_owned()]].contains(&vec!["c".to_owned()]));
}
