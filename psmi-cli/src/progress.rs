//! The progress bar: directions done over all rows, the rate in
//! row-directions per second and, in auto mode, the variation against its
//! target. Drawn only on a terminal.

use crate::interrupt;
use indicatif::{ProgressBar, ProgressStyle};
use psmi_std::{NEstimators, Progress};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::time::Instant;

/// A progress bar on stderr, or nothing when stderr is not a terminal or `--quiet`.
pub struct ProgressReport {
    bar: Option<ProgressBar>,
    rows: usize,
    started: Instant,
}

impl ProgressReport {
    pub fn new(enabled: bool, n_estimators: NEstimators, rows: usize) -> Self {
        let started = Instant::now();
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressReport {
                bar: None,
                rows,
                started,
            };
        }
        let bar = match n_estimators {
            NEstimators::Fixed(m) => ProgressBar::new(m as u64).with_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} directions × {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            NEstimators::Auto => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}")
                    .expect("valid template"),
            ),
        };
        bar.set_message(match n_estimators {
            NEstimators::Fixed(_) => format!("{rows} rows"),
            NEstimators::Auto => "auto mode: first block of directions".to_string(),
        });
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        ProgressReport {
            bar: Some(bar),
            rows,
            started,
        }
    }

    /// Rows × directions done per second, in millions.
    fn rate(&self, directions: usize) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        (self.rows as f64 * directions as f64) / seconds / 1e6
    }

    /// Shows `progress`; the run goes on unless a signal asked it to stop.
    pub fn update(&self, progress: &Progress) -> ControlFlow<()> {
        interrupt::flow()?;
        let Some(bar) = &self.bar else {
            return ControlFlow::Continue(());
        };
        bar.set_position(progress.directions as u64);
        let rate = self.rate(progress.directions);
        if progress.target.is_none() && progress.total_directions.is_some() {
            bar.set_message(format!("{} rows, {rate:.0} M row-directions/s", self.rows));
        }
        if let Some(target) = progress.target {
            let variation = progress
                .variation
                .map_or("not yet compared".to_string(), |v| {
                    format!("variation {v:.4}")
                });
            bar.set_message(format!(
                "auto mode: {} blocks, {} directions × {} rows ({rate:.0} M row-directions/s), \
                 {variation} (target ≤ {target})",
                progress.blocks, progress.directions, self.rows
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
