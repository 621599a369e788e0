//! Tidy checks of the layout's rules: the domain stays pure, rsip stays in one module, every
//! module says what it is for, and the layers depend in one direction.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
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

fn dependencies(krate: &str) -> String {
    let manifest =
        std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap_or_default();
    manifest
        .split("[dev-dependencies]")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn domain_declares_no_io_dependency_and_no_async_fn() {
    let deps = dependencies("domain");
    for forbidden in [
        "tokio",
        "sqlx",
        "rsip",
        "axum",
        "async-graphql",
        "reqwest",
        "eventlog",
        "projections",
        "telephony",
    ] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
            "domain depends on {forbidden}"
        );
    }
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
fn layers_depend_in_one_direction() {
    for (krate, forbidden) in [
        ("eventlog", &["projections", "telephony", "api"][..]),
        ("projections", &["telephony", "api"][..]),
        ("telephony", &["projections", "api"][..]),
    ] {
        let deps = dependencies(krate);
        for f in forbidden {
            assert!(
                !deps
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{f}."))),
                "{krate} depends on {f}"
            );
        }
    }
}

#[test]
fn rsip_is_confined_to_one_module() {
    let mut files = Vec::new();
    for krate in ["domain", "eventlog", "projections", "telephony", "api"] {
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
    for krate in [
        "domain",
        "eventlog",
        "projections",
        "telephony",
        "api",
        "tests",
        "benches",
    ] {
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
