//! The progress bar: blocks of directions done and, in auto mode, the
//! variation against its target. Drawn only on a terminal.

use crate::interrupt;
use indicatif::{ProgressBar, ProgressStyle};
use psmi_std::{NEstimators, Progress};
use std::io::IsTerminal;
use std::ops::ControlFlow;

/// A progress bar on stderr, or nothing when stderr is not a terminal or `--quiet`.
pub struct ProgressReport {
    bar: Option<ProgressBar>,
}

impl ProgressReport {
    pub fn new(enabled: bool, n_estimators: NEstimators) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressReport { bar: None };
        }
        let bar = match n_estimators {
            NEstimators::Fixed(m) => ProgressBar::new(m as u64).with_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} directions")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            NEstimators::Auto => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}")
                    .expect("valid template"),
            ),
        };
        bar.set_message("auto mode: first block of directions");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        ProgressReport { bar: Some(bar) }
    }

    /// Shows `progress`; the run goes on unless a signal asked it to stop.
    pub fn update(&self, progress: &Progress) -> ControlFlow<()> {
        interrupt::flow()?;
        let Some(bar) = &self.bar else {
            return ControlFlow::Continue(());
        };
        bar.set_position(progress.directions as u64);
        if let Some(target) = progress.target {
            let variation = progress
                .variation
                .map_or("not yet compared".to_string(), |v| {
                    format!("variation {v:.4}")
                });
            bar.set_message(format!(
                "auto mode: {} blocks, {} directions, {variation} (target ≤ {target})",
                progress.blocks, progress.directions
            ));
        }
        ControlFlow::Continue(())
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
