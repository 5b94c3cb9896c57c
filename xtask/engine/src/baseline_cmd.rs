//! `race-hunt baseline REPORT... --out PATH`: write the known findings of
//! reports as a baseline (`baseline.rs` reads and checks the file).

use std::path::{Path, PathBuf};

use race_hunt_report::Report;

use crate::baseline::{known_findings, render, Baseline};
use crate::exit::{self, Failure};

/// Write the known findings of reports as a baseline.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Lists every finding of the reports' pass-expected cells (fixed variants, suites) that detected something, by fingerprint, with --reason (or an empty reason to fill in per entry: the manifest refuses an entry without one). Entries already in --out are kept with their reasons. Point the manifest at the file: [run] baseline = \"race-hunt-baseline.toml\".

Example:
  cargo xtask race-hunt baseline target/race-hunt/latest/report.json --out race-hunt-baseline.toml --reason 'the seqlock read races the writer by design'"
)]
pub struct BaselineCmd {
    /// race-hunt/v1 reports (a run's `--json`, its run directory's report.json, or the gate's).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// The baseline file to write (entries already there are kept).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// The reason of every new entry (without it, each new entry gets an empty reason to fill in).
    #[arg(long)]
    pub reason: Option<String>,
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
}

impl BaselineCmd {
    pub fn run(&self) -> exit::Result {
        if self.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(Failure::usage("--reason is empty: say why these findings are accepted by design"));
        }
        let mut reports = Vec::new();
        for path in &self.reports {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("{}: cannot read it: {e}", path.display())))?;
            reports.push(Report::from_json(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?);
        }
        let mut entries = match std::fs::read_to_string(&self.out) {
            Ok(text) => Baseline::parse(&self.out, &text, false).map_err(|e| Failure::Manifest(e.to_string()))?.entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Failure::usage(format!("{}: cannot read it: {e}", self.out.display()))),
        };
        let before = entries.len();
        let mut added = 0;
        for new in known_findings(&reports, self.reason.as_deref().unwrap_or("")) {
            match entries.iter_mut().find(|e| e.fingerprint == new.fingerprint) {
                Some(old) => {
                    for c in new.cells {
                        if !old.cells.contains(&c) {
                            old.cells.push(c);
                        }
                    }
                }
                None => {
                    entries.push(new);
                    added += 1;
                }
            }
        }
        crate::report::write_atomic(&self.out, render(&entries).as_bytes())
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", self.out.display())))?;
        println!("baseline: {} finding(s) in {} ({added} new, {before} kept)", entries.len(), self.out.display());
        let without: Vec<&str> =
            entries.iter().filter(|e| e.reason.trim().is_empty()).map(|e| e.fingerprint.as_str()).collect();
        if !without.is_empty() {
            println!(
                "baseline: fill in the `reason` of {} entr{} ({}): the manifest refuses an entry without one",
                without.len(),
                if without.len() == 1 { "y" } else { "ies" },
                without.join(", ")
            );
        }
        self.hint_manifest();
        Ok(exit::OK)
    }

    /// Say how to point the manifest at the file, unless it already does.
    fn hint_manifest(&self) {
        let manifest = self.manifest.clone().or_else(crate::manifest::find_manifest);
        let Some(m) = manifest.and_then(|p| crate::manifest::load(&p).ok().map(|m| (p, m))) else {
            println!("baseline: name it in the manifest: [run] baseline = {:?}", self.out.display().to_string());
            return;
        };
        let out = std::fs::canonicalize(&self.out).unwrap_or_else(|_| self.out.clone());
        if m.1.baseline.as_ref().is_some_and(|b| std::fs::canonicalize(&b.path).ok().as_ref() == Some(&out)) {
            return;
        }
        let rel = out.strip_prefix(&m.1.dir).map(Path::to_path_buf).unwrap_or(out);
        println!("baseline: name it in {}: under [run], baseline = {:?}", m.0.display(), rel.display().to_string());
    }
}
