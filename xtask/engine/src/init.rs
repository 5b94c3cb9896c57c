//! `race-hunt init`: a starter `race-hunt.toml` for the current cargo
//! workspace (its packages as suites, the lesson's fixtures as canaries,
//! the engine's targets, detectors and budgets) and the GitHub workflow.
//! Existing files are kept unless `--force`.

use std::path::{Path, PathBuf};

use crate::exit::{self, Failure};

/// The workflow an adopting repository runs (kept in step with race-hunt's
/// own by a test).
pub const WORKFLOW: &str = include_str!("../templates/race-hunt.yml");

/// Write a starter race-hunt.toml and .github/workflows/race-hunt.yml.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Run it at the root of your cargo workspace, then read and edit race-hunt.toml: give each suite the variants (features) and expectations it needs."
)]
pub struct Init {
    /// The workspace to write into (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// A workspace member: its package name and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub dir: PathBuf,
}

/// The workspace's members, from `cargo metadata`.
pub fn members(dir: &Path) -> Result<(PathBuf, Vec<Member>), String> {
    let out = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("failed to start cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} is not in a cargo workspace: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or("."));
    let ids: Vec<&str> =
        meta["workspace_members"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    let mut members = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if !ids.contains(&p["id"].as_str().unwrap_or("")) {
            continue;
        }
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let has_tests = p["targets"].as_array().into_iter().flatten().any(|t| {
            let kinds: Vec<&str> = t["kind"].as_array().into_iter().flatten().filter_map(|k| k.as_str()).collect();
            kinds.iter().any(|k| matches!(*k, "lib" | "test" | "bin" | "rlib"))
        });
        // The xtask itself is a tool, not code to hunt.
        if name == "xtask" || !has_tests {
            continue;
        }
        members.push(Member { name, dir: manifest.parent().unwrap_or(Path::new(".")).to_path_buf() });
    }
    Ok((root, members))
}

/// The manifest text: the engine's targets, detectors, budgets and CI
/// groups, then one suite per member.
pub fn manifest_text(root: &Path, members: &[Member]) -> String {
    let engine = std::fs::read_to_string(crate::engine_root().join("race-hunt.toml")).unwrap_or_default();
    // The engine's settings, up to its own fixtures and suites.
    let cut = engine.find("\n# --- fixtures").or_else(|| engine.find("\n[[fixtures]]")).unwrap_or(engine.len());
    let mut text = String::from(
        "# race-hunt's manifest (written by `race-hunt init`): what to hunt, with which\n\
         # detectors, on which targets, how hard, and what each cell must show.\n\
         # The lesson's fixtures run beside your suites as canaries: a suite's clean\n\
         # result counts only where its detector caught them on the same machine.\n\n",
    );
    for line in engine[..cut].lines() {
        // The engine's suppressions file is its own; write yours and name it here.
        if line.trim_start().starts_with("suppressions") {
            text.push_str("# suppressions = \"ci/tsan-suppressions.txt\"  (every entry needs a `# why` above it)\n");
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\n# ---------------------------------------------------------------------------\n# Your packages, hunted as suites. A suite without variants is one variant\n# expected to pass everywhere. Keep a fixed bug behind a feature as a\n# regression check:\n#   [[suites.variants]]\n#   name = \"racy\"\n#   features = [\"racy\"]\n#   racy = true\n#   class = \"check-then-act\"\n");
    for m in members {
        let rel = m.dir.strip_prefix(root).unwrap_or(&m.dir);
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let name: String =
            m.name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
        text.push_str(&format!("\n[[suites]]\nname = \"{name}\"\npath = \"{}\"\n", rel.display()));
    }
    text
}

impl Init {
    pub fn run(&self) -> exit::Result {
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let (root, members) = members(&dir).map_err(Failure::Usage)?;
        if members.is_empty() {
            return Err(Failure::usage(format!("no package with tests in the workspace at {}", root.display())));
        }
        let files = [
            (root.join("race-hunt.toml"), manifest_text(&root, &members)),
            (root.join(".github/workflows/race-hunt.yml"), WORKFLOW.to_string()),
        ];
        for (path, _) in &files {
            if path.exists() && !self.force {
                return Err(Failure::usage(format!("{} exists; pass --force to overwrite it", path.display())));
            }
        }
        for (path, text) in &files {
            crate::report::write_atomic(path, text.as_bytes())
                .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
        println!("suites: {}", members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "));
        println!("next: read race-hunt.toml, then `cargo xtask race-hunt --list` and `cargo xtask race-hunt`");
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_uses_the_same_pinned_actions_as_our_workflow() {
        let ours = std::fs::read_to_string(crate::engine_root().join(".github/workflows/race-hunt.yml")).unwrap();
        for line in
            WORKFLOW.lines().filter(|l| l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:"))
        {
            assert!(
                ours.contains(line.trim()),
                "the template's `{}` is not in .github/workflows/race-hunt.yml",
                line.trim()
            );
        }
        assert!(!WORKFLOW.contains("ci/hunt.sh"), "an adopter has no ci/ scripts");
    }

    #[test]
    fn a_starter_manifest_parses_with_one_suite_per_member() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("shop");
        std::fs::create_dir_all(pkg.join("src")).unwrap();
        std::fs::write(pkg.join("Cargo.toml"), "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
            .unwrap();
        std::fs::write(pkg.join("src/lib.rs"), "").unwrap();
        let text = manifest_text(dir.path(), &[Member { name: "shop".into(), dir: pkg.clone() }]);
        let path = dir.path().join("race-hunt.toml");
        std::fs::write(&path, &text).unwrap();
        let m = crate::manifest::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(m.suites.len(), 1);
        assert_eq!(m.suites[0].name, "shop");
        assert!(m.fixtures.is_empty() && !m.canary_fixtures.is_empty(), "canaries from the engine");
    }
}
