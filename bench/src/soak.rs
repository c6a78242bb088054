//! The soak (`--soak-minutes N`): for N minutes, readers run the dashboards in turn while
//! integrations re-push changed subscriptions (their MRR moved by a cent a round, so every
//! batch changes the ledger); reported per minute: requests, errors, p50 and p99 of the reads,
//! rows pushed and the process's resident set. On PostgreSQL, what autovacuum does runs as
//! during the load. At the end the portfolio dashboard is compared with the same dashboard
//! after a rebuild of the ledger from the records.
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::company::Company;
use crate::scenarios::{Client, Scenario, Stats};
use cs_kpi::base::error::AppError;

/// Rows per re-push request.
const BATCH: usize = 1_000;

#[derive(Serialize, Debug, Clone)]
pub struct SoakMinute {
    pub minute: usize,
    pub reads: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rows_pushed: usize,
    pub rss_mb: f64,
}

#[derive(Serialize, Debug)]
pub struct Soak {
    /// The whole soak, the rebuild at its end included.
    pub seconds: f64,
    pub minutes: Vec<SoakMinute>,
    /// The portfolio dashboard before and after a rebuild of the ledger, equal.
    pub ledger_matches_rebuild: bool,
}

impl Soak {
    pub fn errors(&self) -> usize {
        self.minutes.iter().map(|m| m.errors).sum()
    }

    /// How much the resident set grew from the end of minute 5 to the end (a fraction).
    pub fn rss_growth_after_5_minutes(&self) -> Option<f64> {
        let at_5 = self.minutes.get(4)?.rss_mb;
        let last = self.minutes.last()?.rss_mb;
        Some((last - at_5) / at_5)
    }

    /// The p99 of the last 5 minutes over the p99 of minutes 5-10 (the worst minute of each).
    pub fn late_p99_ratio(&self) -> Option<f64> {
        if self.minutes.len() < 15 {
            return None;
        }
        let worst = |minutes: &[SoakMinute]| minutes.iter().map(|m| m.p99_ms).fold(0.0, f64::max);
        let (early, late) = (worst(&self.minutes[5..10]), worst(&self.minutes[self.minutes.len() - 5..]));
        Some(late / early)
    }
}

/// One read or batch, with the minute it ended in.
enum Event {
    Read(usize, Duration),
    Failed(usize),
    Pushed(usize, usize),
}

/// Runs the soak for `duration` with `readers` clients of the dashboards and two writers.
pub async fn soak(
    client: &Client,
    db: &sea_orm::DatabaseConnection,
    company: &Company,
    dashboards: &[Scenario],
    readers: usize,
    duration: Duration,
) -> Result<Soak, AppError> {
    let started = Instant::now();
    let minute = move || (started.elapsed().as_secs() / 60) as usize;
    let requests: Arc<Vec<(String, String, Value)>> = Arc::new(dashboards.iter().map(Scenario::request).collect());
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for n in 0..readers {
        let (client, requests, events) = (client.clone(), requests.clone(), events.clone());
        tasks.spawn(async move {
            let mut turn = n;
            while started.elapsed() < duration {
                let (user, query, variables) = &requests[turn % requests.len()];
                let began = Instant::now();
                let event = match client.query(user, query, variables).await {
                    Ok(_) => Event::Read(minute(), began.elapsed()),
                    Err(e) => {
                        tracing::warn!(error = %e.detail(), "soak read failed");
                        Event::Failed(minute())
                    }
                };
                let _ = events.send(event);
                turn += 1;
            }
        });
    }
    let blocks = company.blocks();
    for writer in 0..2 {
        let (client, events, company) = (client.clone(), events.clone(), *company);
        tasks.spawn(async move {
            let mut round = 0;
            while started.elapsed() < duration {
                let block = (round * 2 + writer) % blocks;
                let subscriptions = company.block(block).into_iter().find(|l| l.mutation == "upsertSubscriptions");
                let rows: Vec<Value> = subscriptions.map(|l| l.rows).unwrap_or_default();
                let changed: Vec<Value> = rows.iter().map(|r| moved(r, round)).collect();
                for chunk in changed.chunks(BATCH) {
                    if started.elapsed() >= duration {
                        break;
                    }
                    let event = match client.ingest("upsertSubscriptions", "SubscriptionInput", chunk).await {
                        Ok(_) => Event::Pushed(minute(), chunk.len()),
                        Err(e) => {
                            tracing::warn!(error = %e.detail(), "soak push failed");
                            Event::Failed(minute())
                        }
                    };
                    let _ = events.send(event);
                }
                round += 1;
            }
        });
    }
    drop(events);
    let total = duration.as_secs().div_ceil(60) as usize;
    let mut minutes: Vec<(Stats, usize, usize, f64)> = (0..total).map(|_| Default::default()).collect();
    // The resident set at the end of each minute; meanwhile, what autovacuum would do (the
    // benchmark's server may run without it, see `Autovacuum`).
    let mut autovacuum = crate::Autovacuum::new(db);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while samples.len() < total {
            let next = Duration::from_secs(60 * (samples.len() as u64 + 1)).min(duration);
            if started.elapsed() >= next {
                samples.push(crate::rss_mb());
                continue;
            }
            autovacuum.nap().await?;
            tokio::time::sleep(Duration::from_secs(1).min(next.saturating_sub(started.elapsed()))).await;
        }
        autovacuum.finish().await?;
        Ok::<_, AppError>(samples)
    });
    while let Some(event) = received.recv().await {
        let at = |m: usize| m.min(total - 1);
        match event {
            Event::Read(m, took) => minutes[at(m)].0.push(took),
            Event::Failed(m) => minutes[at(m)].1 += 1,
            Event::Pushed(m, rows) => minutes[at(m)].2 += rows,
        }
    }
    tasks.join_all().await;
    let samples = sampler.await.map_err(AppError::internal)??;
    for ((_, _, _, rss), sample) in minutes.iter_mut().zip(samples) {
        *rss = sample;
    }
    let before = dashboards.first().map(|d| d.last_answer(client));
    let before = match before {
        Some(answer) => Some(answer.await?),
        None => None,
    };
    rebuild(db).await?;
    let after = match dashboards.first() {
        Some(d) => Some(d.last_answer(client).await?),
        None => None,
    };
    Ok(Soak {
        seconds: started.elapsed().as_secs_f64(),
        minutes: minutes
            .into_iter()
            .enumerate()
            .map(|(minute, (stats, errors, rows_pushed, rss_mb))| SoakMinute {
                minute: minute + 1,
                reads: stats.len(),
                errors,
                p50_ms: stats.p50(),
                p99_ms: stats.percentile(0.99),
                rows_pushed,
                rss_mb,
            })
            .collect(),
        ledger_matches_rebuild: before.is_some() && before == after,
    })
}

/// A subscription row with its MRR moved by `round` cents (up on even rounds, back on odd).
fn moved(row: &Value, round: usize) -> Value {
    let mut row = row.clone();
    let mrr = row["mrr"].as_str().and_then(|m| Decimal::from_str(m).ok()).unwrap_or_default();
    let cent = Decimal::new(1, 2);
    let shifted = if round.is_multiple_of(2) { mrr + cent } else { mrr };
    row["mrr"] = json!(shifted.to_string());
    row
}

/// Rebuilds the ledger from the records, as a start on a database without it would.
async fn rebuild(db: &sea_orm::DatabaseConnection) -> Result<(), AppError> {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM aggregate_versions WHERE name = 'ledger'").await?;
    cs_kpi::ledger::ensure_built(db).await?;
    Ok(())
}
