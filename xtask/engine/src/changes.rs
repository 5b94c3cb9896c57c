//! `--changed-since REF`: a pull request hunts what it can affect. A suite
//! is hunted when a file of its package, or of any package it depends on
//! by path (its workspace's members included), changed since the merge base
//! with `REF`; the fixtures when the engine or the fixtures changed; the
//! canaries always. A change to the manifest (which pins the nightly), a
//! lock file, a toolchain file or cargo's configuration hunts everything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use race_hunt_report::{NotPlanned, Role};

use crate::cell::Cell;
use crate::manifest::suite::Suite;
use crate::manifest::Manifest;
use crate::plan::Plan;

/// What changed, and what that decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub since: String,
    /// Changed files (absolute), committed since the merge base or not.
    pub files: Vec<PathBuf>,
    /// Why everything is hunted, if it is.
    pub everything: Option<String>,
}

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git").args(args).current_dir(root).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The files changed between the merge base of `since` and `HEAD` and the
/// working tree (untracked files included), and whether they change
/// everything. `manifest` is the manifest's path; `engine` the engine's
/// source tree (its `xtask/` and `fixtures/` build every fixture).
pub fn find(root: &Path, since: &str, manifest: &Path, engine: &Path) -> Result<Changes, String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?.trim());
    let base = git(root, &["merge-base", since, "HEAD"])
        .map_err(|e| format!("cannot find the merge base of `{since}` and HEAD: {e}"))?;
    let base = base.trim();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for list in [
        git(&top, &["diff", "--name-only", "--no-renames", base])?,
        git(&top, &["ls-files", "--others", "--exclude-standard"])?,
    ] {
        names.extend(list.lines().filter(|l| !l.is_empty()).map(str::to_string));
    }
    let files: Vec<PathBuf> = names.iter().map(|n| top.join(n)).collect();
    let everything = everything(&files, manifest, engine);
    Ok(Changes { since: since.to_string(), files, everything })
}

/// Why these changed files hunt everything, if they do.
fn everything(files: &[PathBuf], manifest: &Path, engine: &Path) -> Option<String> {
    let engine_parts = [engine.join("xtask"), engine.join("fixtures")];
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let why = if f == manifest {
            Some("the manifest changed")
        } else if name == "Cargo.lock" {
            Some("a lock file changed")
        } else if name == "rust-toolchain" || name == "rust-toolchain.toml" {
            Some("a toolchain file changed")
        } else if f.parent().is_some_and(|p| p.ends_with(".cargo")) {
            Some("cargo's configuration changed")
        } else if engine_parts.iter().any(|p| f.starts_with(p)) {
            Some("the engine or the fixtures changed")
        } else {
            None
        };
        if let Some(why) = why {
            return Some(format!("{why} ({})", f.display()));
        }
    }
    None
}

/// The directories whose files affect `suite`: its package's and, through
/// path dependencies, every package it depends on in its workspace or
/// beside it (from `cargo metadata --no-deps` of each workspace met).
pub fn suite_dirs(suite: &Suite) -> Result<Vec<PathBuf>, String> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut todo = vec![suite.dir.join("Cargo.toml")];
    while let Some(manifest) = todo.pop() {
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        if dirs.contains(&dir) {
            continue;
        }
        dirs.push(dir.clone());
        let out = Command::new("cargo")
            .args(["metadata", "--no-deps", "--format-version", "1", "--offline", "--manifest-path"])
            .arg(&manifest)
            .env_remove("RUSTUP_TOOLCHAIN")
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed for {}: {}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata's output: {e}"))?;
        let Some(pkg) = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["manifest_path"].as_str().is_some_and(|m| Path::new(m) == manifest.as_path()))
        else {
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            if let Some(path) = dep["path"].as_str() {
                todo.push(Path::new(path).join("Cargo.toml"));
            }
        }
    }
    Ok(dirs)
}

/// What the changes leave out: `None` when everything is hunted, else the
/// suites no change can affect (the fixtures' controls are left out too),
/// with one line per suite saying why it is in or out.
pub fn unaffected(suites: &[&Suite], changes: &Changes) -> Result<(Option<Vec<String>>, Vec<String>), String> {
    let mut lines = Vec::new();
    if let Some(why) = &changes.everything {
        lines.push(format!("changed since {}: everything is hunted: {why}", changes.since));
        return Ok((None, lines));
    }
    let mut out: Vec<String> = Vec::new();
    for suite in suites {
        let dirs = suite_dirs(suite)?;
        match changes.files.iter().find(|f| dirs.iter().any(|d| f.starts_with(d))) {
            Some(f) => lines.push(format!("suite {}: hunted ({} changed)", suite.name, f.display())),
            None => {
                lines.push(format!(
                    "suite {}: not hunted (no file of its package or of the {} package(s) it depends on by path changed)",
                    suite.name,
                    dirs.len() - 1
                ));
                out.push(suite.name.clone());
            }
        }
    }
    Ok((Some(out), lines))
}

/// Drop from `cells` what the changes leave out (`out`: the suites no
/// change affects; every fixture control), keeping each column's canaries:
/// a fixture cell that serves as a canary of a column that hunts suites
/// stays, as a canary. Returns what was dropped, as not-planned entries.
pub fn narrow_cells(m: &Manifest, cells: &mut Vec<Cell>, out: &[String], since: &str) -> Vec<NotPlanned> {
    let mut columns: Vec<(String, String)> = Vec::new();
    for c in cells.iter().filter(|c| c.role == Role::Hunt) {
        if !columns.contains(&(c.detector.clone(), c.target.name.clone())) {
            columns.push((c.detector.clone(), c.target.name.clone()));
        }
    }
    let mut dropped: Vec<NotPlanned> = Vec::new();
    cells.retain_mut(|c| {
        let drop = match c.role {
            Role::Canary => false,
            Role::Hunt => out.contains(&c.fixture),
            Role::Control => {
                let canary = columns.contains(&(c.detector.clone(), c.target.name.clone()))
                    && crate::plan::canaries_for(m, &c.detector, &c.target.name)
                        .iter()
                        .any(|(f, v)| *f == c.fixture && v.name == c.variant);
                if canary {
                    c.role = Role::Canary;
                }
                !canary
            }
        };
        if drop {
            let reason = if c.role == Role::Control {
                format!("unchanged since {since}: neither the engine nor the fixtures changed")
            } else {
                format!("unchanged since {since}: no file its package depends on changed")
            };
            let np = NotPlanned {
                detector: c.detector.clone(),
                target: c.target.name.clone(),
                reason,
                subject: Some(c.fixture.clone()),
            };
            if !dropped.contains(&np) {
                dropped.push(np);
            }
        }
        !drop
    });
    dropped
}

/// Drop from `plan` what the changes cannot affect, and say why in its
/// not-planned list; the canaries stay. Returns one line per suite and for
/// the fixtures saying why each is in or out.
pub fn narrow(plan: &mut Plan, m: &Manifest, changes: &Changes) -> Result<Vec<String>, String> {
    let planned: Vec<&Suite> = m.suites.iter().filter(|s| plan.cells.iter().any(|c| c.fixture == s.name)).collect();
    let (out, mut lines) = unaffected(&planned, changes)?;
    let Some(out) = out else { return Ok(lines) };
    if plan.cells.iter().any(|c| c.role == Role::Control) {
        lines.push(
            "fixtures: not hunted as controls (neither the engine nor the fixtures changed); the canaries run".into(),
        );
    }
    let dropped = narrow_cells(m, &mut plan.cells, &out, &changes.since);
    plan.not_planned.extend(dropped);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let ok = Command::new("sh").args(["-c", script]).current_dir(dir).status().unwrap().success();
        assert!(ok, "{script}");
    }

    #[test]
    fn narrowing_keeps_each_columns_canaries_and_drops_unaffected_suites_and_controls() {
        let m = crate::manifest::tests::repo_manifest();
        let filters = crate::plan::Filters { detectors: vec!["stress".into()], ..Default::default() };
        let host = crate::target::host_triple();
        let mut plan = crate::plan::plan(&m, &filters, "standard", &host, &|_| None).unwrap();
        let before = plan.cells.len();
        let suites: Vec<String> = m.suites.iter().map(|s| s.name.clone()).collect();
        let (kept, out) = suites.split_at(1);
        let dropped = narrow_cells(&m, &mut plan.cells, out, "main");
        assert!(plan.cells.iter().any(|c| c.role == Role::Hunt && c.fixture == kept[0]));
        assert!(!plan.cells.iter().any(|c| c.role == Role::Hunt && out.contains(&c.fixture)));
        assert!(!plan.cells.iter().any(|c| c.role == Role::Control), "controls are left out");
        let canaries: Vec<_> = plan.cells.iter().filter(|c| c.role == Role::Canary).collect();
        assert_eq!(canaries.len(), 2, "one racy and one fixed canary for stress@x86_64: {canaries:#?}");
        assert!(canaries.iter().any(|c| c.racy) && canaries.iter().any(|c| !c.racy));
        assert!(dropped.iter().any(|n| n.subject.as_deref() == Some(out[0].as_str())));
        assert!(plan.cells.len() < before);
    }

    #[test]
    fn what_changed_since_the_merge_base_and_what_hunts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        sh(
            &root,
            "git init -q -b main && git config user.email t@t && git config user.name t && mkdir -p a b && echo 1 > a/x.rs && echo 1 > b/y.rs && echo m > race-hunt.toml && git add -A && git commit -qm one && git checkout -qb pr && echo 2 > a/x.rs && git commit -qam two && echo new > b/new.rs",
        );
        let manifest = root.join("race-hunt.toml");
        let engine = Path::new("/nonexistent-engine");
        let c = find(&root, "main", &manifest, engine).unwrap();
        assert_eq!(c.files, [root.join("a/x.rs"), root.join("b/new.rs")]);
        assert_eq!(c.everything, None);
        sh(&root, "echo n >> race-hunt.toml");
        let c = find(&root, "main", &manifest, engine).unwrap();
        assert!(c.everything.as_deref().is_some_and(|w| w.starts_with("the manifest changed")), "{c:?}");
        sh(&root, "git checkout -q race-hunt.toml && mkdir -p sub && echo l > sub/Cargo.lock");
        let c = find(&root, "main", &manifest, engine).unwrap();
        assert!(c.everything.as_deref().is_some_and(|w| w.starts_with("a lock file changed")), "{c:?}");
        sh(&root, "rm sub/Cargo.lock && mkdir -p xtask && echo e > xtask/z.rs");
        let c = find(&root, "main", &manifest, &root).unwrap();
        assert!(c.everything.as_deref().is_some_and(|w| w.starts_with("the engine or the fixtures changed")), "{c:?}");
        let err = find(&root, "no-such-ref", &manifest, engine).unwrap_err();
        assert!(err.contains("cannot find the merge base of `no-such-ref`"), "{err}");
    }
}
