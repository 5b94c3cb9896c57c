//! `stress`: the scenario in a loop on real threads, release build, no
//! help: what a user's own loop test would see.

use std::path::Path;

use crate::budget::{self, Budget};
use crate::builds::BuildSpec;
use crate::detector::{run_args, Context, Detector, Invocation};
use crate::plan::Cell;
use crate::target::Target;

pub struct Stress;

impl Detector for Stress {
    fn name(&self) -> &'static str {
        "stress"
    }

    fn budget(&self, knobs: &toml::Table) -> Result<Budget, String> {
        budget::parse(knobs, "iterations", &["ops"])
    }

    fn supports(&self, _: &Target) -> Result<(), String> {
        Ok(())
    }

    fn build(&self, _: &Target, _: &Context<'_>) -> BuildSpec {
        BuildSpec::plain("stress")
    }

    fn invocations(&self, cell: &Cell, budget: &Budget, ctx: &Context<'_>, _: &Path) -> Vec<Invocation> {
        vec![Invocation { args: run_args(cell, budget, ctx.seed), env: Vec::new(), label: String::new() }]
    }
}
