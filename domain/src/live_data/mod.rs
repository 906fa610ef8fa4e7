//! Live Data's plain data: the states of sources and sync runs as their
//! words are stored, and what their rows keep as JSON.
pub mod runs;
pub mod sources;

pub use sources::{Failure, Sample, StreamInfo, StreamMode, TestResult, Unavailable};

/// Where a source is in its life: made by the wizard (`Draft`), syncing
/// (`Active`), or its last test or sync failed (`Failing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    Draft,
    Active,
    Failing,
}

impl SourceStatus {
    pub const ALL: [SourceStatus; 3] = [SourceStatus::Draft, SourceStatus::Active, SourceStatus::Failing];

    pub const fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Draft => "draft",
            SourceStatus::Active => "active",
            SourceStatus::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<SourceStatus> {
        SourceStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_draft(self) -> bool {
        self == SourceStatus::Draft
    }

    pub fn is_failing(self) -> bool {
        self == SourceStatus::Failing
    }
}

/// A sync run's state: waiting for a worker, running, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Partial,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Partial,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_queued(self) -> bool {
        self == RunStatus::Queued
    }

    pub fn is_running(self) -> bool {
        self == RunStatus::Running
    }

    pub fn is_failed(self) -> bool {
        self == RunStatus::Failed
    }

    pub fn is_partial(self) -> bool {
        self == RunStatus::Partial
    }

    pub fn is_cancelled(self) -> bool {
        self == RunStatus::Cancelled
    }

    /// Queued or running: not ended yet.
    pub fn is_live(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

impl std::fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_word() {
        for s in SourceStatus::ALL {
            assert_eq!(SourceStatus::parse(s.as_str()), Some(s));
        }
        for r in RunStatus::ALL {
            assert_eq!(RunStatus::parse(r.as_str()), Some(r));
        }
        assert!(RunStatus::Queued.is_live() && RunStatus::Running.is_live() && !RunStatus::Failed.is_live());
    }
}
