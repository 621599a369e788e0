//! Tidy checks of the layout's rules, on the workspace as cargo and the source see it: the
//! crates depend on each other along exactly the edges of the crate map (read from `cargo
//! metadata`), no crate has an import circle among its modules, the domain stays pure, rsip
//! stays in one module, and every module says what it is for.

#[path = "architecture/module_graph.rs"]
mod module_graph;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use module_graph::ModuleGraph;

/// The crate map (ARCHITECTURE.md): each workspace crate and exactly the workspace crates it
/// depends on, bottom to top. `tests` and `benches` may use anything.
const CRATE_MAP: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("eventlog", &["domain"]),
    ("projections", &["domain", "eventlog"]),
    ("telephony", &[]),
    ("node", &["domain", "eventlog", "projections"]),
    (
        "calls",
        &["domain", "eventlog", "projections", "node", "telephony"],
    ),
    ("filejobs", &["domain", "eventlog", "projections", "node"]),
    (
        "api",
        &[
            "domain",
            "eventlog",
            "projections",
            "node",
            "calls",
            "filejobs",
        ],
    ),
    (
        "callcore",
        &[
            "domain",
            "eventlog",
            "projections",
            "node",
            "calls",
            "filejobs",
            "api",
        ],
    ),
];

/// Crates that may depend on any other: cross-crate tests and benchmarks.
const ANYTHING_GOES: &[&str] = &["tests", "benches"];

/// Outside crates a layer must not use, and why.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "domain",
        &[
            "tokio",
            "sqlx",
            "rsip",
            "axum",
            "async-graphql",
            "reqwest",
            "rusqlite",
        ],
        "the domain is pure",
    ),
    (
        "node",
        &["axum", "async-graphql", "rsip", "reqwest", "tower-http"],
        "the node core knows no transport",
    ),
    (
        "calls",
        &["axum", "async-graphql", "tower-http"],
        "the call runtime serves no HTTP",
    ),
    (
        "filejobs",
        &["axum", "async-graphql", "rsip", "tower-http"],
        "file jobs serve no HTTP",
    ),
    ("api", &["rsip", "clap"], "the API is GraphQL and HTTP only"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// One dependency of a workspace package as `cargo metadata` lists it.
struct Dependency {
    name: String,
    kind: Option<String>,
    workspace: bool,
}

/// Every workspace package with its declared dependencies.
fn metadata() -> BTreeMap<String, Vec<Dependency>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata could not run: {e}"));
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cargo metadata printed no JSON: {e}"));
    let packages = json["packages"].as_array().cloned().unwrap_or_default();
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    packages
        .iter()
        .map(|package| {
            let name = package["name"].as_str().unwrap_or_default().to_owned();
            let dependencies = package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let name = d["name"].as_str().unwrap_or_default().to_owned();
                    Dependency {
                        workspace: d["path"].is_string() && members.contains(&name),
                        kind: d["kind"].as_str().map(str::to_owned),
                        name,
                    }
                })
                .collect();
            (name, dependencies)
        })
        .collect()
}

#[test]
fn the_crates_depend_along_exactly_the_edges_of_the_map() {
    let packages = metadata();
    let mapped: BTreeMap<&str, &[&str]> = CRATE_MAP.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for (package, dependencies) in &packages {
        seen.insert(package.as_str());
        if ANYTHING_GOES.contains(&package.as_str()) {
            continue;
        }
        let Some(allowed) = mapped.get(package.as_str()) else {
            panic!("crate {package} is not on the crate map (tests/tests/architecture.rs)");
        };
        let normal: BTreeSet<&str> = dependencies
            .iter()
            .filter(|d| d.workspace && d.kind.as_deref() != Some("dev"))
            .map(|d| d.name.as_str())
            .collect();
        let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
        assert_eq!(
            normal, allowed,
            "{package} depends on other workspace crates than the map says"
        );
        for dev in dependencies
            .iter()
            .filter(|d| d.workspace && d.kind.as_deref() == Some("dev"))
        {
            assert!(
                dev.name == "tests" || allowed.contains(dev.name.as_str()),
                "{package} has the dev-dependency {}, above it on the map",
                dev.name
            );
        }
    }
    for (package, _) in CRATE_MAP {
        assert!(
            seen.contains(package),
            "the map names {package}, which is no crate"
        );
    }
}

#[test]
fn the_map_goes_one_way() {
    // Each crate depends only on crates listed before it: the map is bottom to top.
    let mut below = BTreeSet::new();
    for (package, dependencies) in CRATE_MAP {
        for dependency in *dependencies {
            assert!(
                below.contains(dependency),
                "{package} depends on {dependency}, which is not below it"
            );
        }
        below.insert(*package);
    }
    let users_of_telephony: Vec<&str> = CRATE_MAP
        .iter()
        .filter(|(_, deps)| deps.contains(&"telephony"))
        .map(|(package, _)| *package)
        .collect();
    assert_eq!(
        users_of_telephony,
        ["calls"],
        "telephony is the call runtime's only"
    );
}

#[test]
fn layers_use_no_outside_crate_of_another_layer() {
    let packages = metadata();
    for (package, forbidden, why) in FORBIDDEN {
        let dependencies = packages
            .get(*package)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for dependency in dependencies
            .iter()
            .filter(|d| d.kind.as_deref() != Some("dev"))
        {
            assert!(
                !forbidden.contains(&dependency.name.as_str()),
                "{package} depends on {}: {why}",
                dependency.name
            );
        }
    }
}

/// Every crate root of the workspace's own source (libraries, binaries).
fn crate_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for (package, _) in CRATE_MAP
        .iter()
        .copied()
        .chain(ANYTHING_GOES.iter().map(|p| (*p, &[][..])))
    {
        let src = root().join(package).join("src");
        for file in ["lib.rs", "main.rs"] {
            if src.join(file).exists() {
                roots.push(src.join(file));
            }
        }
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            roots.extend(bins.flatten().map(|e| e.path()));
        }
    }
    roots
}

#[test]
fn no_crate_has_an_import_circle_among_its_modules() {
    let roots = crate_roots();
    assert!(roots.len() >= 10, "crate roots found: {roots:?}");
    let mut circles = Vec::new();
    for crate_root in roots {
        let graph = ModuleGraph::of_crate(&crate_root).unwrap_or_else(|e| panic!("{e}"));
        for circle in graph.circles() {
            circles.push(format!(
                "{}: {}",
                crate_root.display(),
                circle.join(" <-> ")
            ));
        }
    }
    assert!(
        circles.is_empty(),
        "modules import each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_check_sees_a_circle() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\npub use c::C;\n");
    write("a.rs", "use crate::b::B;\npub struct A;\n");
    write("b.rs", "pub struct B;\nfn f() { let _ = super::a::A; }\n");
    write(
        "c.rs",
        "pub struct C;\n#[cfg(test)]\nmod tests { use super::*; }\n",
    );
    let graph = ModuleGraph::of_crate(&dir.path().join("lib.rs")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        graph.circles(),
        [vec!["crate::a".to_owned(), "crate::b".to_owned()]]
    );
    // Naming an item through the root's re-export is an edge to the root.
    write("a.rs", "pub struct A;\nfn f() { let _ = crate::C; }\n");
    write("b.rs", "pub struct B;\n");
    write("c.rs", "pub struct C;\nfn g() { let _ = crate::a::A; }\n");
    let graph = ModuleGraph::of_crate(&dir.path().join("lib.rs")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        graph.circles(),
        [vec![
            "crate".to_owned(),
            "crate::a".to_owned(),
            "crate::c".to_owned()
        ]]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn domain_has_no_async_fn_and_reads_no_clock() {
    let mut files = Vec::new();
    rust_files(&root().join("domain/src"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains("async fn"),
            "{} has an async fn",
            file.display()
        );
        for clock in [
            "Utc::now",
            "SystemTime::now",
            "Instant::now",
            "new_v4",
            "thread_rng",
        ] {
            assert!(
                !text.contains(clock),
                "{} reads a clock or makes an id ({clock})",
                file.display()
            );
        }
    }
}

#[test]
fn rsip_is_confined_to_one_module() {
    let mut files = Vec::new();
    for (krate, _) in CRATE_MAP {
        rust_files(&root().join(krate).join("src"), &mut files);
    }
    let users: Vec<_> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .contains("rsip::")
        })
        .collect();
    assert!(
        users.len() <= 1,
        "rsip is used in several modules: {users:?}"
    );
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in CRATE_MAP
        .iter()
        .map(|(k, _)| *k)
        .chain(ANYTHING_GOES.iter().copied())
    {
        rust_files(&root().join(krate), &mut files);
    }
    assert!(files.len() > 20);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} does not start with a //! comment",
            file.display()
        );
    }
}

#[test]
fn no_file_is_over_800_lines_unless_the_architecture_says_why() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap_or_default();
    let mut files = Vec::new();
    for (krate, _) in CRATE_MAP {
        rust_files(&root().join(krate).join("src"), &mut files);
    }
    for file in files {
        let lines = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count();
        let relative = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        assert!(
            lines <= 800 || architecture.contains(&format!("`{relative}`")),
            "{relative} has {lines} lines: split it, or say in ARCHITECTURE.md why it is long"
        );
    }
}
