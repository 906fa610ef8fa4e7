//! SQLite serves one keyhub node. Two processes on one SQLite file would each
//! keep their own key snapshots, limits and sync runner without hearing of the
//! other's changes, so the second refuses to start with a sentence saying why.
//! An advisory lock on `<database>.lock`, held while the node runs; the kernel
//! drops it when the process ends, even on `kill -9`, so nothing stale remains.
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while this node serves its SQLite file; dropping it lets another start.
#[derive(Debug)]
pub struct NodeLock {
    _file: File,
}

/// Takes the lock for the SQLite database at `database`, or says who holds it.
pub fn acquire(database: &Path) -> anyhow::Result<NodeLock> {
    let path = lock_path(database);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            anyhow::bail!(
                "another keyhub{who} is already running on the SQLite database {}. SQLite serves one node: \
                 stop the other one, or run several nodes on PostgreSQL (KEYHUB_DATABASE_URL=postgres://…; \
                 see docs/cluster.md).",
                database.display()
            );
        }
        Err(TryLockError::Error(e)) => anyhow::bail!("cannot lock {}: {e}", path.display()),
    }
    // Who holds it, for the next one's sentence.
    let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
    Ok(NodeLock { _file: file })
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keyhub.db");
        let first = acquire(&db).unwrap();
        let second = acquire(&db).unwrap_err().to_string();
        assert!(second.contains("already running on the SQLite database"), "{second}");
        assert!(second.contains(&format!("process {}", std::process::id())), "{second}");
        drop(first);
        acquire(&db).expect("free again once the first node stopped");
    }
}
