//! What the costed fields of the schema charge, for the schema's complexity limit.
/// The surcharge of a report computed by SQL over many rows (`kpis`, `mrrMovements`,
/// `csmScorecards`, `featureRequests`): fifty of them in one request reach the limit, while a
/// page of 500 accounts with all their lists stays well within it.
pub const REPORT: usize = 1_000;
/// The surcharge of a root field that queries the database itself (`account`, `accounts`,
/// `users`, `teams`, `healthModel`): at most 250 of them in one request.
pub const QUERY: usize = 200;
/// The rows assumed for a list without a page size (periods of a report, a team's members).
pub const LIST: usize = 10;

/// A page of `first` items, each costing `child`; `first` is clamped so that an absurd value
/// is refused by its own validation (`BAD_USER_INPUT`) rather than overflowing.
pub fn page(first: Option<i32>, child: usize) -> usize {
    usize::try_from(first.unwrap_or(0).clamp(1, 500)).unwrap_or(1).saturating_mul(child)
}

/// A report of about [`LIST`] rows, each costing `child`.
pub fn report(child: usize) -> usize {
    REPORT.saturating_add(nested_list(child))
}

/// A root field reading one record.
pub fn lookup(child: usize) -> usize {
    QUERY.saturating_add(child)
}

/// A root field listing records (about [`LIST`] of them).
pub fn listing(child: usize) -> usize {
    QUERY.saturating_add(nested_list(child))
}

/// A list below a record, loaded in one batch for all its parents (about [`LIST`] items).
pub fn nested_list(child: usize) -> usize {
    LIST.saturating_mul(child)
}
