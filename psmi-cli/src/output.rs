//! Output directories that receive a run's files whole or not at all.

use psmi_std::io::{IoError, IoErrorKind};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// A run's output directory, filled through a staging directory and committed at the end.
///
/// Files are written to [`OutputDir::path`], inside a fresh hidden staging directory.
/// [`OutputDir::commit`] moves them into the target; dropping the value without
/// committing (an error, a panic) deletes the staging directory and leaves the target
/// as it was, earlier results included.
///
/// Where the staging directory lives makes each move a same-filesystem rename:
/// - a target that does not exist yet is staged next to it (same parent) and appears
///   at commit by one rename of the whole directory;
/// - an existing target is staged inside it, which proves at [`OutputDir::begin`] that
///   it is writable; at commit each file is renamed over its namesake, in the order
///   their paths were first asked for (so a summary asked for last lands last).
///
/// A process killed mid-run (SIGKILL, out of memory) cannot delete its staging
/// directory. So each run holds a lock (`flock` on Unix) on a file inside its own for
/// as long as it lives, and a commit removes the staging directories in the target and
/// beside it whose lock it can take: their run is gone. A live run's is never touched,
/// nor one without a lock file. Commits into one existing directory hold a lock on it (Unix), so that the
/// files of two concurrent runs never mix.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    /// Whether `staging` sits inside `target` (which existed at `begin`).
    inside: bool,
    /// The staging directory's lock file, held locked until the run ends; `None` where
    /// it could not be locked, which leaves the directory out of every debris scan.
    owner: Option<File>,
    names: Mutex<Names>,
    committed: bool,
}

/// The files a run writes, in the order first asked for, and the earlier outputs it
/// replaces by nothing.
#[derive(Debug, Default)]
struct Names {
    written: Vec<String>,
    stale: Vec<String>,
}

/// Names of staging directories start with this.
const STAGING_PREFIX: &str = ".psmi-staging-";
/// The file inside a staging directory that its run holds locked while it lives.
const OWNER_LOCK: &str = ".lock";

/// Creates a fresh staging directory in `parent` and its locked lock file. Made with
/// `create_dir`, not a temp-dir crate, so that it has the usual (umask) permissions
/// when it becomes the target itself.
fn create_staging(parent: &Path) -> io::Result<(PathBuf, Option<File>)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{STAGING_PREFIX}{}-{n}", process::id()));
        match fs::create_dir(&path) {
            // Left behind by a killed run that had the same process id.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => continue,
            Err(e) => return Err(e),
            Ok(()) => {
                let owner = lock_owner(&path);
                return Ok((path, owner));
            }
        }
    }
}

/// Creates `staging`'s lock file already locked: it is made and locked under another
/// name, then renamed, so that a scan never finds it unlocked while its run lives. A
/// run killed before the rename leaves a directory that scans skip (conservative).
/// `None` where locking fails (a filesystem without locks): nothing is left in the
/// directory, which then becomes the target as it is.
fn lock_owner(staging: &Path) -> Option<File> {
    let pending = staging.join(".lock-pending");
    let locked = File::create(&pending).and_then(|file| {
        file.lock()?;
        fs::rename(&pending, staging.join(OWNER_LOCK))?;
        Ok(file)
    });
    if locked.is_err() {
        let _ = fs::remove_file(&pending);
    }
    locked.ok()
}

/// Removes the staging directories in `dir`, other than `own`, whose lock file this
/// process can lock: the run that made them is gone (a lock dies with its process).
/// Directories whose lock is held, or that have no lock file, are left alone.
fn remove_debris(dir: &Path, own: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_staging = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(STAGING_PREFIX));
        let path = entry.path();
        if !is_staging || path == own || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(lock) = File::open(path.join(OWNER_LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            // Unlocked before removal, which Windows needs; no run can take the
            // directory over meanwhile, since new runs make new names.
            drop(lock);
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Holds the existing directory `dir` locked for the duration of a commit, so that
/// the commits of concurrent runs into it do not interleave. On Unix a directory opens
/// as a file and `flock` takes it, which needs no lock file among the results;
/// elsewhere (or if locking fails) commits go unserialised.
fn lock_target(dir: &Path) -> Option<File> {
    if !cfg!(unix) {
        return None;
    }
    let file = File::open(dir).ok()?;
    file.lock().ok()?;
    Some(file)
}

impl OutputDir {
    /// Starts a run whose results go to `dir`, creating its parent directories if needed.
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming `dir`: [`IoErrorKind::NotADirectory`] if it is a file,
    /// [`IoErrorKind::Output`] if it or its staging directory cannot be created.
    pub fn begin(dir: impl AsRef<Path>) -> Result<OutputDir, IoError> {
        let target = dir.as_ref().to_path_buf();
        let fail = |e| IoError::new(&target, IoErrorKind::Output(e));
        let inside = match fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => true,
            Ok(_) => return Err(IoError::new(&target, IoErrorKind::NotADirectory)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(fail(e)),
        };
        let (staging, owner) = if inside {
            create_staging(&target).map_err(fail)?
        } else {
            let parent = parent_of(&target);
            fs::create_dir_all(parent).map_err(fail)?;
            create_staging(parent).map_err(fail)?
        };
        Ok(OutputDir {
            target,
            staging,
            inside,
            owner,
            names: Mutex::new(Names::default()),
            committed: false,
        })
    }

    /// Where to write the output file `name` (a plain file name) during the run.
    /// A directory created there is committed whole, replacing any directory of
    /// that name in the target.
    pub fn path(&self, name: &str) -> PathBuf {
        let mut names = self.names();
        if !names.written.iter().any(|n| n == name) {
            names.written.push(name.to_owned());
        }
        self.staging.join(name)
    }

    /// Declares `name` an output that this run does not produce: [`OutputDir::commit`]
    /// removes an earlier run's file of that name from the target, under the same lock
    /// as the moves, so that it cannot remain beside results it does not match.
    pub fn stale(&self, name: &str) {
        self.names().stale.push(name.to_owned());
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        // A panic elsewhere while holding the lock leaves the lists intact.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves every file written through [`OutputDir::path`] into the target directory,
    /// replacing files of the same name, removes those declared [`OutputDir::stale`],
    /// and returns the target. Names asked for but never written are skipped. Then
    /// removes the staging directories that killed runs left in the target or beside it.
    ///
    /// # Errors
    ///
    /// [`IoErrorKind::Output`] naming the target if a move fails; the staging
    /// directory is removed either way.
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        match self.move_in() {
            Ok(()) => {
                self.committed = true;
                // Killed runs staged in the target if it existed then, beside it if not.
                remove_debris(&self.target, &self.staging);
                remove_debris(parent_of(&self.target), &self.staging);
                Ok(self.target.clone())
            }
            Err(e) => Err(IoError::new(&self.target, IoErrorKind::Output(e))),
        }
    }

    fn move_in(&mut self) -> io::Result<()> {
        if !self.inside {
            // The lock file belongs to the staging directory, not to the results.
            if self.owner.is_some() {
                fs::remove_file(self.staging.join(OWNER_LOCK))?;
            }
            match fs::rename(&self.staging, &self.target) {
                Ok(()) => return Ok(()),
                // Another run made the target meanwhile: join it file by file.
                Err(_) if self.target.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        let _lock = lock_target(&self.target);
        let names = self.names.get_mut().unwrap_or_else(|e| e.into_inner());
        for name in &names.written {
            let (from, to) = (self.staging.join(name), self.target.join(name));
            if from.exists() {
                // A directory cannot be renamed over a non-empty one: the old
                // one goes into the staging directory, removed below.
                if from.is_dir() && to.is_dir() {
                    fs::rename(&to, replaced(&self.staging, &to))?;
                }
                fs::rename(from, to)?;
            }
        }
        for name in &names.stale {
            match fs::remove_file(self.target.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::remove_dir_all(&self.staging)
    }
}

/// The directory holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    parent.unwrap_or(Path::new("."))
}

/// Where `old`, a directory being replaced, is put aside inside `staging`.
fn replaced(staging: &Path, old: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".replaced-");
    name.push(old.file_name().unwrap_or_default());
    staging.join(name)
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            // Unlocked first, which Windows needs to delete the file.
            drop(self.owner.take());
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

// Tested here rather than by doc examples, which a binary's docs do not run.
#[cfg(test)]
mod tests;
