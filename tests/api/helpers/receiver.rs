//! A webhook receiver that verifies signatures with the Standard Webhooks
//! reference library for Python (`tests/webhooks/receiver.py`, the
//! `standardwebhooks` package from PyPI in the test venv).
use std::process::{Child, Command, Stdio};

use super::{Pulses, Said, until_says, venv_bin};

pub struct Receiver {
    child: Child,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _log: Said,
}

impl Receiver {
    /// Listens on `port` with `secret`; the first `fail_first` requests get 500.
    pub async fn start(port: u16, secret: &str, fail_first: u32) -> Receiver {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("received.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py");
        let mut child = Command::new(venv_bin("python"))
            .arg(script)
            .args([port.to_string(), secret.to_owned()])
            .arg(&out)
            .arg(fail_first.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the receiver runs (scripts/test.sh installs standardwebhooks)");
        let log = until_says(child.stderr.take().expect("stderr"), "receiver listening", "webhook receiver").await;
        Receiver { child, out, _dir: dir, _log: log }
    }

    /// Every request received so far: `{id, verified, error, answered, type, payload}`.
    pub fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (on the background pulse the deliverer bumps) for `n` requests.
    pub async fn until(&self, n: usize) -> Vec<serde_json::Value> {
        let mut pulses = Pulses::new();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            pulses.next().await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
