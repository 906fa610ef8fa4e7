//! Usage of keys: which key a count belongs to, the time buckets reports
//! group by, and the stacked bar chart the Usage pages draw (SVG text, made
//! here so that it is tested without a browser and needs no script).
use std::collections::BTreeMap;
use std::fmt::Write;

/// The key a call is counted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRef {
    Hub(i64),
    Personal(i64),
}

impl KeyRef {
    pub fn kind(self) -> &'static str {
        match self {
            KeyRef::Hub(_) => "hub",
            KeyRef::Personal(_) => "personal",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            KeyRef::Hub(id) | KeyRef::Personal(id) => id,
        }
    }

    pub fn from_stored(kind: &str, id: i64) -> Option<KeyRef> {
        match kind {
            "hub" => Some(KeyRef::Hub(id)),
            "personal" => Some(KeyRef::Personal(id)),
            _ => None,
        }
    }
}

/// The outcome of an answered call that was not refused.
pub const OK: &str = "ok";

/// How reports group counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

/// Stored counts: minutes for 7 days, then hours until 90 days, then days.
pub const MINUTES_KEPT_DAYS: i64 = 7;
pub const HOURS_KEPT_DAYS: i64 = 90;
/// A report has at most this many buckets (a week of minutes is 10,080).
pub const MAX_BUCKETS: i64 = 10_080;

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "minute" => Some(Bucket::Minute),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// The start of the bucket holding `t` (unix seconds, UTC).
    pub fn floor(self, t: i64) -> i64 {
        t - t.rem_euclid(self.seconds())
    }

    /// Every bucket start from the one holding `from` up to `to` (exclusive).
    pub fn starts(self, from: i64, to: i64) -> Vec<i64> {
        let step = self.seconds();
        let mut out = Vec::new();
        let mut t = self.floor(from);
        while t < to && (out.len() as i64) < MAX_BUCKETS {
            out.push(t);
            t += step;
        }
        out
    }
}

/// Counts in one bucket: accepted calls and refusals by code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub refused: BTreeMap<String, u64>,
}

impl Counts {
    pub fn add(&mut self, outcome: &str, n: u64) {
        if outcome == OK {
            self.ok += n;
        } else {
            *self.refused.entry(outcome.to_owned()).or_default() += n;
        }
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    pub fn total(&self) -> u64 {
        self.ok + self.refused_total()
    }

    pub fn merge(&mut self, other: &Counts) {
        self.ok += other.ok;
        for (code, n) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += n;
        }
    }
}

/// The series a chart stacks: `ok`, then the most frequent refusal codes,
/// then `other refusals` for the rest (a legend of at most six).
pub fn series(totals: &Counts) -> Vec<String> {
    let mut codes: Vec<(&String, &u64)> = totals.refused.iter().collect();
    codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out = vec![OK.to_owned()];
    let shown = if codes.len() > 5 { 4 } else { codes.len() };
    out.extend(codes.iter().take(shown).map(|(c, _)| (*c).clone()));
    if codes.len() > shown {
        out.push(OTHER.to_owned());
    }
    out
}

pub const OTHER: &str = "other refusals";

/// One bucket's value per series (same order as `series`).
pub fn values(counts: &Counts, series: &[String]) -> Vec<u64> {
    let named: u64 = series.iter().filter_map(|s| counts.refused.get(s)).sum();
    series
        .iter()
        .map(|s| match s.as_str() {
            OK => counts.ok,
            OTHER => counts.refused_total() - named,
            code => counts.refused.get(code).copied().unwrap_or(0),
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A stacked bar chart as SVG: one bar per bucket, one colour class per
/// series (`chart-s0` … `chart-s5`, in the stylesheet), axis labels from
/// `label`. `title` names it for screen readers; the page puts the same
/// numbers in a table beside it.
pub fn bar_chart(id: &str, title: &str, starts: &[i64], rows: &[Vec<u64>], label: impl Fn(i64) -> String) -> String {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 56.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let max = rows.iter().map(|r| r.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let plot_w = W - LEFT - 4.0;
    let plot_h = H - BOTTOM - TOP;
    let n = starts.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    // The axis: zero and the top value.
    let _ = write!(
        svg,
        r#"<line class="chart-axis" x1="{LEFT}" y1="{y0}" x2="{W}" y2="{y0}"/><text class="chart-label" x="{lx}" y="{y0}" text-anchor="end">0</text><text class="chart-label" x="{lx}" y="{ty}" text-anchor="end">{max}</text>"#,
        y0 = TOP + plot_h,
        lx = LEFT - 6.0,
        ty = TOP + 10.0,
    );
    for (i, row) in rows.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_h;
        for (s, v) in row.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let h = plot_h * (*v as f64) / (max as f64);
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="chart-s{}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}"/>"#,
                s.min(5)
            );
        }
    }
    // Three time labels: first, middle, last bucket.
    let picks: Vec<usize> = match starts.len() {
        0 => vec![],
        1 => vec![0],
        len => vec![0, len / 2, len - 1],
    };
    for (k, i) in picks.into_iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot / 2.0;
        let anchor = ["start", "middle", "end"][k.min(2)];
        let _ = write!(
            svg,
            r#"<text class="chart-label" x="{x:.1}" y="{y}" text-anchor="{anchor}">{}</text>"#,
            escape(&label(starts[i])),
            y = H - 6.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(ok: u64, refused: &[(&str, u64)]) -> Counts {
        Counts { ok, refused: refused.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect() }
    }

    #[test]
    fn buckets_align_and_are_bounded() {
        assert_eq!(Bucket::Hour.starts(3_700, 10_800), vec![3_600, 7_200]);
        assert_eq!(Bucket::Minute.starts(0, i64::MAX).len() as i64, MAX_BUCKETS);
        assert_eq!(Bucket::Day.floor(86_399), 0);
    }

    #[test]
    fn series_keep_the_largest_refusals_and_sum_the_rest() {
        let c = counts(10, &[("a", 1), ("b", 6), ("c", 3), ("d", 2), ("e", 5), ("f", 4)]);
        let s = series(&c);
        assert_eq!(s, vec!["ok", "b", "e", "f", "c", OTHER]);
        assert_eq!(values(&c, &s), vec![10, 6, 5, 4, 3, 3]);
        let few = counts(1, &[("x", 2)]);
        assert_eq!(series(&few), vec!["ok", "x"]);
    }

    #[test]
    fn the_chart_is_svg_with_a_title_and_one_rect_per_value() {
        let svg = bar_chart("c", "Calls <all>", &[0, 3_600], &[vec![2, 1], vec![0, 0]], |t| format!("{t}"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title id=\"c-title\">Calls &lt;all&gt;</title>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(!svg.contains("style="), "CSP forbids inline styles");
    }
}
