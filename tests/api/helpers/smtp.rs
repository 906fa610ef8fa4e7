//! A real SMTP server for the email tests: aiosmtpd (from PyPI, in the test
//! venv) writing what it receives into a Maildir; messages are read back
//! with Python's own `email` parser.
use std::process::{Child, Command, Stdio};

use super::{Pulses, Said, free_port, until_says, venv_bin};

pub struct Smtp {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    _log: Said,
}

/// One received message, as a mail program would show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub list_unsubscribe: Option<String>,
}

const READ: &str = r#"
import email, email.policy, json, sys
out = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    part = lambda t: (m.get_body(preferencelist=(t,)) or m).get_content() if m.is_multipart() else ""
    out.append({"to": str(m["To"]), "from": str(m["From"]), "subject": str(m["Subject"]),
                "text": part("plain"), "html": part("html"),
                "list_unsubscribe": str(m["List-Unsubscribe"]) if m["List-Unsubscribe"] else None})
print(json.dumps(out))
"#;

impl Smtp {
    pub async fn start() -> Smtp {
        let dir = tempfile::tempdir().expect("maildir");
        let port = free_port();
        let mut child = Command::new(venv_bin("aiosmtpd"))
            .args(["-n", "-d", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aiosmtpd runs (scripts/test.sh installs it)");
        let log = until_says(child.stderr.take().expect("stderr"), "Server is listening", "aiosmtpd").await;
        Smtp { child, port, dir, _log: log }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let new = self.dir.path().join("mail").join("new");
        let mut files: Vec<_> =
            std::fs::read_dir(&new).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        if files.is_empty() {
            return Vec::new();
        }
        let out = Command::new(venv_bin("python")).arg("-c").arg(READ).args(&files).output().expect("python");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Waits (on the app's background pulse, which the mailer bumps after
    /// each pass) until `n` messages have arrived.
    pub async fn until(&self, n: usize) -> Vec<Received> {
        let mut pulses = Pulses::new();
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            pulses.next().await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
