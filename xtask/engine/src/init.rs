//! `race-hunt init`: a starter `race-hunt.toml` for the current repository
//! (its packages as suites: the cargo workspace's members and every package
//! below it that is its own workspace or excluded from it; the lesson's
//! fixtures as canaries; the engine's targets, detectors and budgets) and
//! the GitHub workflow, rendered for this repository: race-hunt's own
//! action pins, the default branch, the command that runs race-hunt here.
//! Existing files are kept unless `--force`.

use std::path::{Path, PathBuf};

use crate::exit::{self, Failure};

/// The workflow an adopting repository runs, before `init` renders it
/// ([`workflow_text`]).
pub const WORKFLOW: &str = include_str!("../templates/race-hunt.yml");

/// race-hunt's own workflow: the one source of the action pins `init`
/// writes (Dependabot bumps them there; the template's own pins are
/// replaced, so they are never shipped).
pub const OWN_WORKFLOW: &str = include_str!("../../../.github/workflows/race-hunt.yml");

/// How the adopter's workflow runs race-hunt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Command {
    /// `cargo xtask race-hunt ...`: the repository's thin xtask and its alias.
    Xtask,
    /// `cargo race-hunt ...`: installed in every job with `cargo install
    /// --locked --git URL race-hunt`.
    RaceHunt,
}

/// Write a starter race-hunt.toml and .github/workflows/race-hunt.yml.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Run it at the root of your repository, then read and edit race-hunt.toml: give each suite the variants (features) and expectations it needs."
)]
pub struct Init {
    /// The repository to write into (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// The branch whose pushes the workflow hunts (default: origin's HEAD,
    /// else the current branch, else `main`).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// How the workflow runs race-hunt (default: `xtask` when
    /// .cargo/config.toml has an `xtask` alias, else `race-hunt`).
    #[arg(long, value_enum)]
    pub command: Option<Command>,
    /// Where CI installs race-hunt from with `--command race-hunt`: `cargo
    /// install --locked --git URL race-hunt`.
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// Hunt on GitHub's native arm64 runners too (`ubuntu-24.04-arm`, the
    /// `aarch64-native` target); off unless asked, as not every plan has them.
    #[arg(long)]
    pub native_arm: bool,
}

/// A package to hunt: its name and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub dir: PathBuf,
}

/// The repository's root and its packages: the cargo workspace's members
/// (from `cargo metadata`), then every other package below the root (its
/// own workspace, or excluded from the root's), found by walking the tree.
/// Without a cargo workspace at `dir`, `dir` is the root and only the walk
/// finds packages.
pub fn members(dir: &Path) -> Result<(PathBuf, Vec<Member>), String> {
    if !dir.is_dir() {
        return Err(format!("{} does not exist or is not a directory", dir.display()));
    }
    let out = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("failed to start cargo metadata: {e}"))?;
    let (root, mut members) = if out.status.success() {
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
        (PathBuf::from(meta["workspace_root"].as_str().unwrap_or(".")), workspace_members(&meta))
    } else if !dir.join("Cargo.toml").exists() {
        // No workspace here: a repository of separate packages run with the
        // installed `cargo race-hunt`.
        let root = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        (root, Vec::new())
    } else {
        return Err(format!(
            "{} is not a cargo workspace: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    };
    // A vendored race-hunt's own fixtures and suites are not the repository's.
    let engine = crate::root::engine_root().canonicalize().ok();
    walk(&root, engine.as_deref(), &mut members);
    Ok((root, members))
}

fn workspace_members(meta: &serde_json::Value) -> Vec<Member> {
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
        let tool = p["dependencies"].as_array().into_iter().flatten().any(|d| d["name"] == "race-hunt");
        // The xtask itself is a tool, not code to hunt.
        if name == "xtask" || tool || !has_tests {
            continue;
        }
        members.push(Member { name, dir: manifest.parent().unwrap_or(Path::new(".")).to_path_buf() });
    }
    members
}

/// Every package below `dir` that is not already in `found`: directories
/// with a `Cargo.toml` that has a `[package]` with code, skipping
/// `target/`, hidden directories, symbolic links, `engine` (a vendored
/// race-hunt) and the xtask (a package named `xtask` or depending on
/// race-hunt).
fn walk(dir: &Path, engine: Option<&Path>, found: &mut Vec<Member>) {
    if engine == Some(dir) {
        return;
    }
    if let Some(m) = package_at(dir) {
        if !found.iter().any(|f| f.dir == m.dir) {
            found.push(m);
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name != "target" && !name.starts_with('.')
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        walk(&d, engine, found);
    }
}

/// The package in `dir`, if its `Cargo.toml` has a `[package]` with code
/// to test and it is not the xtask.
fn package_at(dir: &Path) -> Option<Member> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let toml: toml::Table = text.parse().ok()?;
    let name = toml.get("package")?.get("name")?.as_str()?.to_string();
    let tool = ["dependencies", "dev-dependencies"]
        .iter()
        .any(|t| toml.get(*t).and_then(|d| d.as_table()).is_some_and(|d| d.contains_key("race-hunt")));
    if name == "xtask" || tool {
        return None;
    }
    let code = dir.join("src/lib.rs").is_file()
        || dir.join("src/main.rs").is_file()
        || dir.join("tests").is_dir()
        || ["lib", "bin", "test"].iter().any(|k| toml.contains_key(*k));
    code.then(|| Member { name, dir: dir.to_path_buf() })
}

/// The manifest text: the engine's targets, detectors, budgets and CI
/// groups (without the native arm64 target unless `native_arm`), then one
/// suite per member.
pub fn manifest_text(root: &Path, members: &[Member], native_arm: bool) -> String {
    let engine = std::fs::read_to_string(crate::root::engine_root().join("race-hunt.toml")).unwrap_or_default();
    // The engine's settings, up to its own fixtures and suites.
    let cut = engine.find("\n# --- fixtures").or_else(|| engine.find("\n[[fixtures]]")).unwrap_or(engine.len());
    let mut lines: Vec<&str> = engine[..cut].lines().collect();
    if !native_arm {
        // The native leg needs GitHub's arm64 runners: opt in with
        // `--native-arm`. Drop its table and the comment above it.
        if let Some(i) = lines.iter().position(|l| l.trim() == "[targets.aarch64-native]") {
            let mut start = i;
            while start > 0 && lines[start - 1].starts_with('#') {
                start -= 1;
            }
            let mut end = i + 1;
            while end < lines.len() && !lines[end].trim().is_empty() && !lines[end].starts_with('[') {
                end += 1;
            }
            while end < lines.len() && lines[end].trim().is_empty() {
                end += 1;
            }
            lines.splice(
                start..end,
                [
                    "# Real ARM, GitHub's native arm64 runner (`ubuntu-24.04-arm`): not every",
                    "# plan has it; `race-hunt init --native-arm` writes its [targets.aarch64-native].",
                    "",
                ],
            );
        }
    }
    let mut text = String::from(
        "# race-hunt's manifest (written by `race-hunt init`): what to hunt, with which\n\
         # detectors, on which targets, how hard, and what each cell must show.\n\
         # The lesson's fixtures run beside your suites as canaries: a suite's clean\n\
         # result counts only where its detector caught them on the same machine.\n\n",
    );
    for line in lines {
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

/// What the adopter's workflow is rendered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Render {
    /// The branch whose pushes are hunted (and whose runs save the caches).
    pub branch: String,
    pub command: Command,
    /// `--command race-hunt`: where every job installs it from.
    pub git: Option<String>,
}

/// The template rendered for one repository: every `uses:` line takes the
/// pin of the same action in `pins` (race-hunt's own workflow, which
/// Dependabot keeps current), `main` becomes the branch, and with
/// `Command::RaceHunt` every `cargo xtask` becomes `cargo race-hunt`, each
/// job installing it before its first use.
pub fn workflow_text(template: &str, pins: &str, r: &Render) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._/-".contains(c);
    if r.branch.is_empty() || r.branch.starts_with('-') || !r.branch.chars().all(plain) {
        return Err(format!("cannot write the branch name `{}` into the workflow: pass --branch NAME", r.branch));
    }
    let mut out: Vec<String> = Vec::new();
    for line in template.lines() {
        let mut line = line.to_string();
        if let Some(at) = line.find("uses: ") {
            let action = line[at + 6..].split('@').next().unwrap_or_default().trim().to_string();
            let pin = pins
                .lines()
                .find_map(|p| {
                    p.find("uses: ").filter(|&i| p[i + 6..].starts_with(&format!("{action}@"))).map(|i| &p[i..])
                })
                .ok_or_else(|| format!("the template's action `{action}` has no pin in race-hunt's workflow"))?;
            line = format!("{}{pin}", &line[..at]);
        }
        line = line
            .replace("branches: [main]", &format!("branches: [{}]", r.branch))
            .replace("'refs/heads/main'", &format!("'refs/heads/{}'", r.branch));
        out.push(line);
    }
    if r.command == Command::RaceHunt {
        let git = r.git.as_deref().filter(|g| !g.trim().is_empty()).ok_or(
            "the workflow runs the installed `cargo race-hunt` (no `xtask` alias in .cargo/config.toml): pass --git URL, the repository CI installs race-hunt from, or add the xtask and its alias (README, \"Hunting your own crate\")",
        )?;
        out = install_race_hunt(out, git);
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

/// `cargo xtask` becomes the installed `cargo race-hunt`: a workflow-level
/// `RACE_HUNT_GIT`, and in every job an install step before the first step
/// that runs it (with that step's `if:`).
fn install_race_hunt(lines: Vec<String>, git: &str) -> Vec<String> {
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.replace("cargo xtask race-hunt", "cargo race-hunt").replace("cargo xtask ", "cargo race-hunt "))
        .collect();
    let step_start = |l: &str| l.starts_with("      - ");
    let job_start = |l: &str| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':');
    let mut out = Vec::new();
    let mut installed_in_job = false;
    for (i, line) in lines.iter().enumerate() {
        if job_start(line) {
            installed_in_job = false;
        }
        if line == "  CARGO_TERM_COLOR: always" {
            out.push(line.clone());
            out.push("  # Where every job installs `cargo race-hunt` from (race-hunt init --git).".into());
            out.push(format!("  RACE_HUNT_GIT: {}", serde_json::Value::String(git.to_string())));
            continue;
        }
        if step_start(line) && !installed_in_job {
            let step: Vec<&String> = lines[i..]
                .iter()
                .enumerate()
                .take_while(|(k, l)| *k == 0 || (!step_start(l) && (l.is_empty() || l.starts_with("        "))))
                .map(|(_, l)| l)
                .collect();
            if step.iter().any(|l| l.contains("cargo race-hunt")) {
                installed_in_job = true;
                out.push("      - name: install race-hunt".into());
                if let Some(cond) = step.iter().find(|l| l.trim_start().starts_with("if: ")) {
                    out.push(format!("        {}", cond.trim_start()));
                }
                out.push("        # rust-cache keeps ~/.cargo/bin: a warm run reinstalls nothing.".into());
                out.push("        run: cargo install --locked --git \"$RACE_HUNT_GIT\" race-hunt".into());
            }
        }
        out.push(line.clone());
    }
    out
}

/// The branch pushes to which are hunted: origin's HEAD, else the current
/// branch, else `main`; with where it came from.
fn default_branch(root: &Path) -> (String, &'static str) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if let Some(b) = git(&["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"]) {
        return (b.strip_prefix("origin/").unwrap_or(&b).to_string(), "origin's HEAD");
    }
    if let Some(b) = git(&["symbolic-ref", "--quiet", "--short", "HEAD"]) {
        return (b, "the current branch");
    }
    ("main".into(), "no git branch found")
}

/// Whether `.cargo/config.toml` (or `.cargo/config`) at `root` defines the
/// `xtask` alias.
fn has_xtask_alias(root: &Path) -> bool {
    ["config.toml", "config"].iter().any(|f| {
        std::fs::read_to_string(root.join(".cargo").join(f))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| t.get("alias").and_then(|a| a.get("xtask")).is_some())
    })
}

impl Init {
    pub fn run(&self) -> exit::Result {
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let (root, members) = members(&dir).map_err(Failure::Usage)?;
        if members.is_empty() {
            return Err(Failure::usage(format!("no package with tests in or below {}", root.display())));
        }
        let (branch, from) = match &self.branch {
            Some(b) => (b.clone(), "--branch"),
            None => default_branch(&root),
        };
        let command = self.command.unwrap_or(if has_xtask_alias(&root) { Command::Xtask } else { Command::RaceHunt });
        let render = Render { branch, command, git: self.git.clone() };
        let workflow = workflow_text(WORKFLOW, OWN_WORKFLOW, &render).map_err(Failure::Usage)?;
        let files = [
            (root.join("race-hunt.toml"), manifest_text(&root, &members, self.native_arm)),
            (root.join(".github/workflows/race-hunt.yml"), workflow),
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
        let cmd = match command {
            Command::Xtask => "cargo xtask race-hunt",
            Command::RaceHunt => "cargo race-hunt",
        };
        println!("suites: {}", members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "));
        println!(
            "workflow: hunts pushes to `{}` ({from}; --branch to change), runs `{cmd}` (--command to change)",
            render.branch
        );
        if !self.native_arm {
            println!("native arm64 runners: off (--native-arm to hunt on ubuntu-24.04-arm too)");
        }
        println!("next: read race-hunt.toml, then `{cmd} --list` and `{cmd}`");
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::{Yaml, YamlLoader};

    fn render(command: Command, branch: &str) -> String {
        let git = Some("https://example.com/race-hunt".to_string());
        workflow_text(WORKFLOW, OWN_WORKFLOW, &Render { branch: branch.into(), command, git }).unwrap()
    }

    fn yaml(text: &str) -> Yaml {
        YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}")).remove(0)
    }

    #[test]
    fn the_template_uses_the_same_pinned_actions_as_our_workflow() {
        // What `init` writes, for either command: every action pinned as in
        // race-hunt's own workflow.
        let ours = std::fs::read_to_string(crate::root::engine_root().join(".github/workflows/race-hunt.yml")).unwrap();
        assert_eq!(ours, OWN_WORKFLOW);
        for command in [Command::Xtask, Command::RaceHunt] {
            let written = render(command, "main");
            let uses: Vec<&str> = written
                .lines()
                .filter(|l| l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:"))
                .collect();
            assert!(uses.len() >= 6, "{written}");
            for line in uses {
                assert!(
                    ours.contains(line.trim()),
                    "the template's `{}` is not in .github/workflows/race-hunt.yml",
                    line.trim()
                );
            }
            assert!(!written.contains("ci/hunt.sh"), "an adopter has no ci/ scripts");
        }
        assert!(!WORKFLOW.contains("ci/hunt.sh"), "an adopter has no ci/ scripts");
    }

    #[test]
    fn a_dependabot_bump_of_our_workflow_alone_reaches_what_init_writes() {
        // Dependabot edits .github/workflows/race-hunt.yml only: the pins
        // `init` writes follow it, whatever the template's own say.
        let line = OWN_WORKFLOW.lines().find(|l| l.contains("uses: actions/checkout@")).unwrap();
        let old = line.trim().trim_start_matches("- ").to_string();
        let bumped_pin = "uses: actions/checkout@0123456789abcdef0123456789abcdef01234567 # v99.0.0";
        let bumped = OWN_WORKFLOW.replace(&old, bumped_pin);
        assert_ne!(bumped, OWN_WORKFLOW);
        let render = Render { branch: "main".into(), command: Command::Xtask, git: None };
        let written = workflow_text(WORKFLOW, &bumped, &render).unwrap();
        let checkouts: Vec<&str> = written.lines().filter(|l| l.contains("actions/checkout@")).collect();
        assert!(!checkouts.is_empty());
        for l in checkouts {
            assert!(l.trim_start().trim_start_matches("- ") == bumped_pin, "{l}");
        }
        // An action the workflow does not pin is an error, not an unpinned line.
        let err =
            workflow_text(&WORKFLOW.replace("actions/checkout@", "someone/else@"), OWN_WORKFLOW, &render).unwrap_err();
        assert!(err.contains("`someone/else` has no pin"), "{err}");
    }

    #[test]
    fn the_written_workflow_hunts_the_given_branch() {
        for command in [Command::Xtask, Command::RaceHunt] {
            let written = render(command, "trunk");
            let y = yaml(&written);
            assert_eq!(y["on"]["push"]["branches"][0].as_str(), Some("trunk"), "{written}");
            assert!(!written.contains("refs/heads/main") && !written.contains("[main]"), "{written}");
            for job in ["plan", "hunt"] {
                let saves = y["jobs"][job]["steps"]
                    .as_vec()
                    .unwrap()
                    .iter()
                    .filter_map(|s| s["with"]["save-if"].as_str())
                    .collect::<Vec<_>>();
                assert_eq!(saves, ["${{ github.ref == 'refs/heads/trunk' }}"], "{job}");
            }
        }
        for bad in ["", "a b", "x'y", "-rf", "a:b", "${{ x }}"] {
            let r = Render { branch: bad.into(), command: Command::Xtask, git: None };
            let err = workflow_text(WORKFLOW, OWN_WORKFLOW, &r).unwrap_err();
            assert!(err.contains("pass --branch"), "{bad}: {err}");
        }
    }

    /// Every `run:` of a job, in order, with the step's `if:`.
    fn runs(y: &Yaml, job: &str) -> Vec<(String, Option<String>)> {
        y["jobs"][job]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|s| Some((s["run"].as_str()?.to_string(), s["if"].as_str().map(String::from))))
            .collect()
    }

    #[test]
    fn the_written_workflow_runs_race_hunt_the_way_the_repository_has_it() {
        // The xtask alias: `cargo xtask`, nothing installed.
        let written = render(Command::Xtask, "main");
        let y = yaml(&written);
        let all: Vec<String> = ["plan", "hunt", "gate"].iter().flat_map(|j| runs(&y, j)).map(|(r, _)| r).collect();
        assert!(all.iter().any(|r| r.contains("cargo xtask race-hunt matrix")), "{written}");
        assert!(!all.iter().any(|r| r.contains("cargo race-hunt") || r.contains("cargo install")), "{written}");
        // Installed: `cargo race-hunt`, installed from --git in every job
        // before the first step that runs it, under that step's condition.
        let written = render(Command::RaceHunt, "main");
        assert!(!written.contains("cargo xtask"), "{written}");
        let y = yaml(&written);
        assert_eq!(y["env"]["RACE_HUNT_GIT"].as_str(), Some("https://example.com/race-hunt"));
        for job in ["plan", "hunt", "gate"] {
            let runs = runs(&y, job);
            let first = runs.iter().position(|(r, _)| r.contains("cargo race-hunt")).expect(job);
            let install = runs
                .iter()
                .position(|(r, _)| r == "cargo install --locked --git \"$RACE_HUNT_GIT\" race-hunt")
                .unwrap_or_else(|| panic!("{job} does not install race-hunt:\n{written}"));
            assert!(install < first, "{job}");
            assert_eq!(runs[install].1, runs[first].1, "{job}: the install runs when the step that needs it does");
            assert_eq!(runs.iter().filter(|(r, _)| r.contains("cargo install")).count(), 1, "{job}");
        }
        // Installed without a source to install from: told what to pass.
        let err = workflow_text(
            WORKFLOW,
            OWN_WORKFLOW,
            &Render { branch: "main".into(), command: Command::RaceHunt, git: None },
        )
        .unwrap_err();
        assert!(err.contains("pass --git URL") && err.contains("alias"), "{err}");
    }

    #[test]
    fn every_nextest_pin_is_the_one_race_hunt_installs() {
        let need = crate::nextest::prerequisite();
        let want = format!("cargo-nextest@{}", crate::nextest::NEXTEST_VERSION);
        assert_eq!(need.install_commands().unwrap(), [["cargo", "install", "--locked", want.as_str()]]);
        let test_sh = std::fs::read_to_string(crate::root::engine_root().join("ci/test.sh")).unwrap();
        for (name, text) in [("our workflow", OWN_WORKFLOW), ("the template", WORKFLOW), ("ci/test.sh", &test_sh)] {
            let mentions: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("cargo-nextest") && (l.contains("tool:") || l.contains("cargo install")))
                .collect();
            assert!(!mentions.is_empty(), "{name} installs no cargo-nextest");
            for l in mentions {
                assert!(l.trim_end().ends_with(&want), "{name}: `{}` is not {want}", l.trim());
            }
        }
        // Both jobs that run nextest install it (prebuilt, pinned).
        for (text, jobs) in [(OWN_WORKFLOW, &["tests", "hunt"][..]), (WORKFLOW, &["hunt"][..])] {
            let y = yaml(text);
            for job in jobs {
                let tools: Vec<&str> = y["jobs"][*job]["steps"]
                    .as_vec()
                    .unwrap()
                    .iter()
                    .filter_map(|s| s["with"]["tool"].as_str())
                    .collect();
                assert_eq!(tools, [want.as_str()], "{job}");
            }
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn package(dir: &Path, name: &str, extra: &str) {
        write(
            &dir.join("Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}"),
        );
        write(&dir.join("src/lib.rs"), "");
    }

    #[test]
    fn a_starter_manifest_parses_with_one_suite_per_member() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("shop");
        std::fs::create_dir_all(pkg.join("src")).unwrap();
        std::fs::write(pkg.join("Cargo.toml"), "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
            .unwrap();
        std::fs::write(pkg.join("src/lib.rs"), "").unwrap();
        let text = manifest_text(dir.path(), &[Member { name: "shop".into(), dir: pkg.clone() }], false);
        let path = dir.path().join("race-hunt.toml");
        std::fs::write(&path, &text).unwrap();
        let m = crate::manifest::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(m.suites.len(), 1);
        assert_eq!(m.suites[0].name, "shop");
        assert!(m.fixtures.is_empty() && !m.canary_fixtures.is_empty(), "canaries from the engine");
    }

    #[test]
    fn the_native_arm64_leg_is_written_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("shop");
        package(&pkg, "shop", "");
        let members = [Member { name: "shop".into(), dir: pkg }];
        let path = dir.path().join("race-hunt.toml");
        for native in [false, true] {
            let text = manifest_text(dir.path(), &members, native);
            std::fs::write(&path, &text).unwrap();
            let m = crate::manifest::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let names: Vec<&str> = m.targets.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names.contains(&"aarch64-native"), native, "{names:?}\n{text}");
            assert_eq!(text.contains("ubuntu-24.04-arm\""), native, "{text}");
            assert!(names.contains(&"aarch64") && names.contains(&"armv7"), "{names:?}");
        }
    }

    #[test]
    fn separate_packages_below_the_root_are_found() {
        // The README's layout for a repository of separate packages: a root
        // workspace with the xtask alone, the packages excluded (or their
        // own workspaces).
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        write(
            &root.join("Cargo.toml"),
            "[workspace]\nresolver = \"2\"\nmembers = [\"xtask\"]\nexclude = [\"services\"]\n",
        );
        write(&root.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
        write(&root.join("xtask/src/main.rs"), "fn main() {}\n");
        package(&root.join("services/billing"), "billing", "");
        package(&root.join("services/sessions"), "sessions", "\n[workspace]\n");
        // Not packages to hunt: build output, hidden directories, a tool
        // that depends on race-hunt, a manifest without [package].
        package(&root.join("target/debug/build/junk"), "junk", "");
        package(&root.join(".cache/hidden"), "hidden", "");
        package(&root.join("tools/hunter"), "hunter", "\n[dependencies]\nrace-hunt = { path = \"x\" }\n");
        write(&root.join("services/Cargo.toml"), "[workspace]\nmembers = []\n");
        let (found_root, members) = super::members(&root).unwrap();
        assert_eq!(found_root, root);
        let got: Vec<(&str, PathBuf)> =
            members.iter().map(|m| (m.name.as_str(), m.dir.strip_prefix(&root).unwrap().to_path_buf())).collect();
        assert_eq!(
            got,
            [("billing", PathBuf::from("services/billing")), ("sessions", PathBuf::from("services/sessions"))]
        );
        // No cargo workspace at all: the directory is the root.
        std::fs::remove_file(root.join("Cargo.toml")).unwrap();
        std::fs::remove_dir_all(root.join("xtask")).unwrap();
        let (found_root, members) = super::members(&root).unwrap();
        assert_eq!(found_root, root);
        assert_eq!(members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["billing", "sessions"]);
    }

    #[test]
    fn a_missing_directory_is_named_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = members(&missing).unwrap_err();
        assert_eq!(err, format!("{} does not exist or is not a directory", missing.display()));
        let init = Init { dir: Some(missing), force: false, branch: None, command: None, git: None, native_arm: false };
        let failure = init.run().unwrap_err();
        assert_eq!(failure.code(), exit::USAGE, "{failure}");
    }
}
