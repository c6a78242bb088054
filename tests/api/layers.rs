//! The API reaches the database only through the caller's scope (`cs_kpi::auth::scope::Scope`).
//! The compiler keeps the scope's fields and constructor, and the schema's connection
//! (`Database`), private to the auth layer's `scope` module (the `compile_fail` examples there
//! show it); the scope hands its connection only to the layers below the API (`pub(crate)`), and
//! this test keeps the API's resolvers from asking for it or for a connection in another way.
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            out.push((path, text));
        }
    }
    out
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn resolvers_reach_the_database_only_through_their_scope() {
    let api = sources(&src().join("api"));
    assert!(api.len() > 10, "the API's modules: {}", api.len());
    let forbidden = ["DatabaseConnection", "DatabaseTransaction", ".connection()", "data::<", "base::db::begin_write"];
    for (path, text) in &api {
        for name in forbidden {
            assert!(!text.contains(name), "{} names {name}: a resolver gets a Scope instead", path.display());
        }
    }
    let scoped = api
        .iter()
        .filter(|(_, text)| text.contains("Scope::for_reads(ctx)") || text.contains("Scope::for_writes(ctx)"));
    assert!(scoped.count() >= 6, "the resolvers that read or write get their Scope from the caller");
}
