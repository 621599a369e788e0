//! The import graph of one crate's modules, read from its source with `syn`: one node per
//! module file, an edge wherever a file names a path into another module of the crate (a
//! `use`, or a path in code), whether through `crate::`, `self::`, `super::` or a child module's
//! name. A `mod` declaration is not an edge; re-exporting a child (`pub use child::X`) is.
//! Items compiled only for tests (`#[cfg(test)]`) are left out: a unit test may use its
//! module's parent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module's path from the crate root (`[]` is the root).
type ModPath = Vec<String>;

/// The modules of a crate and who imports whom.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Each file module and the file it is in.
    pub files: BTreeMap<ModPath, PathBuf>,
    /// Inline modules (`mod tests { … }`) and the file module holding them.
    inline: BTreeMap<ModPath, ModPath>,
    /// The file modules each file module imports.
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

/// A module file and the paths it names, before they are resolved.
struct Parsed {
    module: ModPath,
    /// Each path with the module (possibly inline) it was written in.
    paths: Vec<(ModPath, Vec<String>)>,
}

impl ModuleGraph {
    /// The graph of the crate whose root file is `root` (`src/lib.rs`, `src/main.rs`…).
    pub fn of_crate(root: &Path) -> Result<Self, String> {
        let mut graph = ModuleGraph::default();
        let mut parsed = Vec::new();
        graph.load(root, Vec::new(), true, &mut parsed)?;
        for file in parsed {
            let mut targets = BTreeSet::new();
            for (scope, path) in &file.paths {
                if let Some(target) = graph.resolve(scope, path) {
                    if target != file.module {
                        targets.insert(target);
                    }
                }
            }
            graph.edges.insert(file.module, targets);
        }
        Ok(graph)
    }

    /// Reads the module file `file` at `module` and, through its `mod x;` items, its children.
    fn load(
        &mut self,
        file: &Path,
        module: ModPath,
        owns_directory: bool,
        parsed: &mut Vec<Parsed>,
    ) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let syntax = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        self.files.insert(module.clone(), file.to_path_buf());
        // Children of `x.rs` live in `x/`, of `mod.rs`, `lib.rs` and `main.rs` beside them.
        let directory = match (owns_directory, file.parent(), file.file_stem()) {
            (true, Some(parent), _) => parent.to_path_buf(),
            (false, Some(parent), Some(stem)) => parent.join(stem),
            _ => return Err(format!("{}: no directory", file.display())),
        };
        let mut collector = Collector {
            scope: module.clone(),
            paths: Vec::new(),
            inline: Vec::new(),
            children: Vec::new(),
        };
        collector.visit_file(&syntax);
        for inline in collector.inline {
            self.inline.insert(inline, module.clone());
        }
        parsed.push(Parsed {
            module: module.clone(),
            paths: collector.paths,
        });
        for child in collector.children {
            let flat = directory.join(format!("{child}.rs"));
            let nested = directory.join(&child).join("mod.rs");
            let mut path = module.clone();
            path.push(child);
            if flat.exists() {
                self.load(&flat, path, false, parsed)?;
            } else if nested.exists() {
                self.load(&nested, path, true, parsed)?;
            } else {
                return Err(format!("module {} has no file", path.join("::")));
            }
        }
        Ok(())
    }

    /// The file module a path written in `scope` leads into, if it leads into the crate.
    fn resolve(&self, scope: &ModPath, path: &[String]) -> Option<ModPath> {
        let (mut at, rest) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (scope.clone(), &path[1..]),
            Some("super") => {
                let mut at = scope.clone();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    at.pop();
                    rest = &rest[1..];
                }
                (at, rest)
            }
            // A bare path: into the crate only when it starts with a child module of `scope`.
            Some(first) => {
                let mut child = scope.clone();
                child.push(first.to_owned());
                if !self.is_module(&child) {
                    return None;
                }
                (scope.clone(), path)
            }
            None => return None,
        };
        for segment in rest {
            let mut next = at.clone();
            next.push(segment.clone());
            if self.is_module(&next) {
                at = next;
            } else {
                break;
            }
        }
        Some(self.file_of(&at))
    }

    fn is_module(&self, path: &ModPath) -> bool {
        self.files.contains_key(path) || self.inline.contains_key(path)
    }

    /// The file module holding `module` (itself, or the file of an inline module).
    fn file_of(&self, module: &ModPath) -> ModPath {
        match self.inline.get(module) {
            Some(file) => file.clone(),
            None => module.clone(),
        }
    }

    /// Every import circle among the file modules (strongly connected components of more
    /// than one module), each as module paths.
    pub fn circles(&self) -> Vec<Vec<String>> {
        let nodes: Vec<&ModPath> = self.files.keys().collect();
        let index: BTreeMap<&ModPath, usize> =
            nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let successors: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                self.edges
                    .get(*n)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| index.get(t).copied())
                    .collect()
            })
            .collect();
        strongly_connected(&successors)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let mut names: Vec<String> =
                    component.into_iter().map(|i| display(nodes[i])).collect();
                names.sort();
                names
            })
            .collect()
    }
}

/// A module path as written in Rust (`crate` for the root).
pub fn display(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        format!("crate::{}", path.join("::"))
    }
}

/// Tarjan's algorithm, iteratively: the strongly connected components of a graph given by
/// each node's successors.
fn strongly_connected(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = successors.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut components, mut next) = (Vec::new(), Vec::new(), 0);
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut child)) = work.last_mut() {
            if *child == 0 && index[node] == usize::MAX {
                index[node] = next;
                low[node] = next;
                next += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&successor) = successors[node].get(*child) {
                *child += 1;
                if index[successor] == usize::MAX {
                    work.push((successor, 0));
                } else if on_stack[successor] {
                    low[node] = low[node].min(index[successor]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// Walks one file: the paths it names, its inline modules and its `mod x;` children.
struct Collector {
    scope: ModPath,
    paths: Vec<(ModPath, Vec<String>)>,
    inline: Vec<ModPath>,
    children: Vec<String>,
}

impl Collector {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix.clone();
                full.push(name.ident.to_string());
                self.paths.push((self.scope.clone(), full));
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                full.push(rename.ident.to_string());
                self.paths.push((self.scope.clone(), full));
            }
            syn::UseTree::Glob(_) => self.paths.push((self.scope.clone(), prefix.clone())),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

/// Whether `attrs` hold `#[cfg(test)]`.
fn test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && matches!(&attr.meta, syn::Meta::List(list) if list.tokens.to_string() == "test")
    })
}

/// The attributes of an item.
fn attributes(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !test_only(attributes(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.paths.push((self.scope.clone(), segments));
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let name = item.ident.to_string();
        match &item.content {
            None => self.children.push(name),
            Some((_, items)) => {
                self.scope.push(name);
                self.inline.push(self.scope.clone());
                for item in items {
                    self.visit_item(item);
                }
                self.scope.pop();
            }
        }
    }
}
