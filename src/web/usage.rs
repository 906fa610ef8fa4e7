//! What the Usage pages share: the period tabs, the stacked chart (SVG made
//! by `domain::usage::bar_chart`, with the same numbers in a table), the
//! refusals by reason, the endpoints called, and a key's last requests.
use chrono::DateTime;
use serde::Deserialize;

use crate::domain::usage::{Bucket, Counts, KeyRef, series, values};
use crate::state::AppState;
use crate::usage::report::{self, Range, Scope};
use crate::web::AppError;

#[derive(Deserialize)]
pub struct PeriodQuery {
    pub period: Option<String>,
}

/// The periods a page offers: (value, label, span, bucket).
const PERIODS: [(&str, &str, i64, Bucket); 3] = [
    ("24h", "Last 24 hours", 86_400, Bucket::Hour),
    ("7d", "Last 7 days", 7 * 86_400, Bucket::Day),
    ("30d", "Last 30 days", 30 * 86_400, Bucket::Day),
];

pub struct PeriodLink {
    pub value: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Legend {
    pub class: String,
    pub label: String,
    pub total: u64,
}

pub struct ChartRow {
    pub label: String,
    pub values: Vec<u64>,
}

pub struct Line {
    pub name: String,
    pub ok: u64,
    pub refused: u64,
    pub total: u64,
    /// A link to the key's own Usage tab (workspace page).
    pub href: Option<String>,
}

pub struct RecentView {
    pub at: String,
    pub client: String,
    pub method: String,
    pub endpoint: String,
    pub status: i32,
    pub outcome: String,
    pub ms: String,
}

pub struct UsageView {
    pub periods: Vec<PeriodLink>,
    pub period_label: &'static str,
    pub svg: String,
    pub legend: Vec<Legend>,
    pub rows: Vec<ChartRow>,
    pub totals: Line,
    /// (code, count), largest first.
    pub refusals: Vec<(String, u64)>,
    pub endpoints: Vec<Line>,
    /// A key's page: its last requests, newest first.
    pub recent: Option<Vec<RecentView>>,
    /// The workspace page: its keys, most used first.
    pub keys: Option<Vec<Line>>,
}

fn line(name: String, c: &Counts, href: Option<String>) -> Line {
    Line { name, ok: c.ok, refused: c.refused_total(), total: c.total(), href }
}

fn label(bucket: Bucket, t: i64) -> String {
    let at = DateTime::from_timestamp(t, 0).unwrap_or_default();
    match bucket {
        Bucket::Minute | Bucket::Hour => at.format("%H:%M").to_string(),
        Bucket::Day => at.format("%b %d").to_string(),
    }
}

/// The page's report for `scope` over the chosen period.
pub async fn build(state: &AppState, scope: Scope, period: Option<&str>) -> Result<UsageView, AppError> {
    let chosen = PERIODS.iter().find(|p| Some(p.0) == period).unwrap_or(&PERIODS[0]);
    let (_, period_label, span, bucket) = *chosen;
    let range = Range::last(state.clock.now().timestamp(), span, bucket);
    let data = report::series(&state.db, scope, range).await?;
    let names = series(&data.totals);
    let starts: Vec<i64> = data.buckets.iter().map(|(t, _)| *t).collect();
    let rows: Vec<Vec<u64>> = data.buckets.iter().map(|(_, c)| values(c, &names)).collect();
    let title = format!(
        "Calls per {}, {}: {} accepted, {} refused. The table below has the numbers.",
        bucket.as_str(),
        period_label.to_lowercase(),
        data.totals.ok,
        data.totals.refused_total()
    );
    let svg = crate::domain::usage::bar_chart("usage-chart", &title, &starts, &rows, |t| label(bucket, t));
    let totals_by_series = values(&data.totals, &names);
    let legend = names
        .iter()
        .enumerate()
        .map(|(i, n)| Legend { class: format!("chart-s{}", i.min(5)), label: n.clone(), total: totals_by_series[i] })
        .collect();
    let mut refusals: Vec<(String, u64)> = data.totals.refused.iter().map(|(c, n)| (c.clone(), *n)).collect();
    refusals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let endpoints =
        report::endpoints(&state.db, scope, range).await?.into_iter().map(|e| line(e.name, &e.counts, None)).collect();
    let recent = match scope {
        Scope::Key(_, key) => Some(
            report::recent(&state.db, key)
                .await?
                .into_iter()
                .map(|r| RecentView {
                    at: DateTime::from_timestamp_millis(r.at)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    client: if r.client.is_empty() { "unknown".into() } else { r.client },
                    method: r.method,
                    endpoint: r.endpoint,
                    status: r.status,
                    outcome: r.outcome,
                    ms: format!("{:.1}", r.duration_us as f64 / 1000.0),
                })
                .collect(),
        ),
        Scope::Workspace(_) => None,
    };
    let keys = match scope {
        Scope::Workspace(ws) => {
            let keys = report::keys(&state.db, ws, range).await?;
            let names = report::key_names(&state.db, ws, &keys).await?;
            Some(
                keys.iter()
                    .map(|k| {
                        let href = match k.name {
                            Some(KeyRef::Hub(id)) => Some(crate::web::urls::hub_key_usage(id)),
                            _ => None,
                        };
                        line(names.get(&k.name).cloned().unwrap_or_default(), &k.counts, href)
                    })
                    .collect(),
            )
        }
        Scope::Key(..) => None,
    };
    Ok(UsageView {
        periods: PERIODS.iter().map(|p| PeriodLink { value: p.0, label: p.1, current: p.0 == chosen.0 }).collect(),
        period_label,
        svg,
        legend,
        rows: starts.iter().zip(rows).map(|(t, values)| ChartRow { label: label(bucket, *t), values }).collect(),
        totals: line("All".into(), &data.totals, None),
        refusals,
        endpoints,
        recent,
        keys,
    })
}
