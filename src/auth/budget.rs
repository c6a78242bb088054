//! Fair use: each user has two token buckets, sized by role, one for reading (query cost
//! points: the complexity the schema computes before anything runs, see `api::cost`) and one
//! for writing (rows of a batch). A request that finds its bucket short is refused before it
//! runs, `RATE_LIMITED` with the seconds after which it would pass. The buckets live in the
//! server process: several servers each give every user their own budget.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{Caller, Role};
use crate::base::error::{AppError, AppResult};

/// A bucket's size: what refills each second, and the most it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub per_second: u32,
    pub burst: u32,
}

/// A role's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleBudget {
    /// Query cost points.
    pub reads: Bucket,
    /// Rows written.
    pub rows: Bucket,
}

/// The default budgets: far above what the benchmark's 16 clients or the demo ask (a
/// dashboard costs about 2,000 points, and the benchmark's load pushes 35,000 rows a second),
/// far below what a runaway script would take.
pub fn default_budget(role: Role) -> RoleBudget {
    let people = Bucket { per_second: 100_000, burst: 500_000 };
    let machines = Bucket { per_second: 100_000, burst: 200_000 };
    match role {
        Role::Integration => RoleBudget { reads: Bucket { per_second: 20_000, burst: 100_000 }, rows: machines },
        Role::Admin => RoleBudget { reads: people, rows: machines },
        Role::Finance | Role::Manager | Role::Csm => {
            RoleBudget { reads: people, rows: Bucket { per_second: 10_000, burst: 20_000 } }
        }
    }
}

type Limiter = DefaultKeyedRateLimiter<i64, StateInformationMiddleware>;

/// What a request was charged, and what its bucket holds after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    pub requested: u32,
    pub remaining: u32,
    /// The bucket's size.
    pub limit: u32,
    pub per_second: u32,
    /// Seconds until the bucket is full again.
    pub reset_seconds: u64,
}

/// Every user's buckets (one pair per role, one state per user).
pub struct Budgets {
    reads: HashMap<Role, (Bucket, Limiter)>,
    rows: HashMap<Role, (Bucket, Limiter)>,
}

fn limiter(bucket: Bucket) -> Limiter {
    let rate = NonZeroU32::new(bucket.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(bucket.burst).unwrap_or(rate);
    RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)).with_middleware::<StateInformationMiddleware>()
}

impl Budgets {
    /// Buckets of the sizes `budget` gives each role.
    pub fn new(budget: impl Fn(Role) -> RoleBudget) -> Self {
        let roles = [Role::Admin, Role::Manager, Role::Csm, Role::Finance, Role::Integration];
        let of = |pick: fn(RoleBudget) -> Bucket| {
            roles.iter().map(|&role| (role, (pick(budget(role)), limiter(pick(budget(role)))))).collect()
        };
        Budgets { reads: of(|b| b.reads), rows: of(|b| b.rows) }
    }

    /// Takes `points` of query cost from the caller's reading bucket.
    pub fn charge_reads(&self, caller: &Caller, points: usize) -> AppResult<Charge> {
        charge(&self.reads, caller, points, "query cost points")
    }

    /// Takes `rows` from the caller's writing bucket.
    pub fn charge_rows(&self, caller: &Caller, rows: usize) -> AppResult<Charge> {
        charge(&self.rows, caller, rows, "rows written")
    }
}

fn charge(buckets: &HashMap<Role, (Bucket, Limiter)>, caller: &Caller, amount: usize, what: &str) -> AppResult<Charge> {
    let Some((bucket, limiter)) = buckets.get(&caller.role) else {
        return Err(AppError::internal(format!("no budget for role {:?}", caller.role)));
    };
    let requested = u32::try_from(amount).unwrap_or(u32::MAX);
    let Some(cells) = NonZeroU32::new(requested) else {
        return Ok(Charge {
            requested: 0,
            remaining: bucket.burst,
            limit: bucket.burst,
            per_second: bucket.per_second,
            reset_seconds: 0,
        });
    };
    let refuse = |retry_after: Duration| {
        let seconds = retry_after.as_secs_f64().ceil() as u64;
        AppError::RateLimited {
            message: format!(
                "over your budget of {what}: {requested} asked, {} a second up to {}; retry in {seconds} s",
                bucket.per_second, bucket.burst
            ),
            retry_after_seconds: seconds.max(1),
        }
    };
    match limiter.check_key_n(&caller.id, cells) {
        Ok(Ok(snapshot)) => Ok(charged(bucket, requested, &snapshot)),
        Ok(Err(not_until)) => Err(refuse(not_until.wait_time_from(DefaultClock::default().now()))),
        // More than the bucket ever holds: it never passes at this size.
        Err(_) => Err(refuse(Duration::from_secs(u64::from(bucket.burst / bucket.per_second.max(1)) + 1))),
    }
}

fn charged(bucket: &Bucket, requested: u32, snapshot: &StateSnapshot) -> Charge {
    let remaining = snapshot.remaining_burst_capacity();
    let missing = u64::from(bucket.burst.saturating_sub(remaining));
    Charge {
        requested,
        remaining,
        limit: bucket.burst,
        per_second: bucket.per_second,
        reset_seconds: missing.div_ceil(u64::from(bucket.per_second.max(1))),
    }
}
