//! The metric catalog BI tools read (`metricCatalog`): every KPI with its unit, its formula in
//! words (as KPIS.md states it) and the roles that may read it. Each KPI family adds its rows.
use super::MetricDefinition;
use crate::auth::Role;
use crate::metrics::catalog::{Entry, KPI_READERS};

/// The narrower set of readers of the cost KPIs.
const COST_READERS: &[Role] = super::revenue::COST_READERS;

const REVENUE: &[Entry] = &[
    (
        "mrr",
        "currency",
        "Monthly recurring revenue at the end of the period",
        "sum over accounts of MRR(a, end of the period's last month); MRR(a, d) = sum(s.mrr) of subscriptions with startDate <= d < endDate (endDate exclusive, null = open)",
        KPI_READERS,
    ),
    ("arr", "currency", "Annual recurring revenue", "12 * mrr", KPI_READERS),
    (
        "activeCustomers",
        "count",
        "Paying accounts at the end of the period",
        "accounts with MRR(a, last month) > 0",
        KPI_READERS,
    ),
    (
        "newMrr",
        "currency",
        "MRR of first-time customers",
        "sum of NEW movements: p = 0, c > 0 and MRR(a, m) = 0 for every earlier month m; amount c",
        KPI_READERS,
    ),
    (
        "expansionMrr",
        "currency",
        "MRR added by existing customers",
        "sum of EXPANSION movements: p > 0, c > p; amount c - p",
        KPI_READERS,
    ),
    (
        "contractionMrr",
        "currency",
        "MRR lost by customers who stayed",
        "sum of CONTRACTION movements: p > 0, 0 < c < p; amount p - c",
        KPI_READERS,
    ),
    (
        "churnedMrr",
        "currency",
        "MRR of customers who left",
        "sum of CHURN movements: p > 0, c = 0; amount p",
        KPI_READERS,
    ),
    (
        "reactivationMrr",
        "currency",
        "MRR of returning customers",
        "sum of REACTIVATION movements: p = 0, c > 0 and MRR(a, m) > 0 for some month m < M-1; amount c",
        KPI_READERS,
    ),
    (
        "netNewMrr",
        "currency",
        "Net change of MRR",
        "newMrr + expansionMrr + reactivationMrr - contractionMrr - churnedMrr (= MRR(last month of P) - MRR(last month of prev(P)))",
        KPI_READERS,
    ),
    ("newCustomers", "count", "NEW movements in the period", "count of NEW movements", KPI_READERS),
    (
        "reactivatedCustomers",
        "count",
        "REACTIVATION movements in the period",
        "count of REACTIVATION movements",
        KPI_READERS,
    ),
    ("churnedCustomers", "count", "CHURN movements in the period", "count of CHURN movements", KPI_READERS),
    (
        "logoChurnRate",
        "ratio",
        "Share of customers lost",
        "churnedCustomers / startCustomers, startCustomers = active customers in the month before the period (every CHURN of the period counts, so it can exceed the share of opening customers lost)",
        KPI_READERS,
    ),
    (
        "grossMrrChurnRate",
        "ratio",
        "Share of opening MRR lost",
        "(churnedMrr + contractionMrr) / startMrr, startMrr = MRR of the month before the period",
        KPI_READERS,
    ),
    (
        "netMrrChurnRate",
        "ratio",
        "Net share of opening MRR lost (may be negative)",
        "(churnedMrr + contractionMrr - expansionMrr - reactivationMrr) / startMrr",
        KPI_READERS,
    ),
    (
        "customerRetentionRate",
        "ratio",
        "Share of the opening cohort still paying",
        "|{a in C : MRR(a, last) > 0}| / |C|, C = accounts with MRR > 0 in the month before the period",
        KPI_READERS,
    ),
    (
        "netRevenueRetention",
        "ratio",
        "Net revenue retention of the opening cohort",
        "sum_{a in C} MRR(a, last) / sum_{a in C} MRR(a, B)",
        KPI_READERS,
    ),
    (
        "grossRevenueRetention",
        "ratio",
        "Gross revenue retention of the opening cohort",
        "sum_{a in C} min(MRR(a, last), MRR(a, B)) / sum_{a in C} MRR(a, B)",
        KPI_READERS,
    ),
    (
        "netRevenueRetentionTtm",
        "ratio",
        "Net revenue retention over the trailing twelve months",
        "netRevenueRetention with B = last month of P minus 12 months and the cohort taken at that B",
        KPI_READERS,
    ),
    (
        "grossRevenueRetentionTtm",
        "ratio",
        "Gross revenue retention over the trailing twelve months",
        "grossRevenueRetention with B = last month of P minus 12 months",
        KPI_READERS,
    ),
    (
        "quickRatio",
        "ratio",
        "Growth efficiency (reactivation counts as growth)",
        "(newMrr + expansionMrr + reactivationMrr) / (churnedMrr + contractionMrr)",
        KPI_READERS,
    ),
    (
        "arpa",
        "currency",
        "Average revenue per account",
        "mrr / activeCustomers at the period end, rounded half-to-even to the cent",
        KPI_READERS,
    ),
    (
        "ltv",
        "currency",
        "Customer lifetime value (on 6-month churn)",
        "arpa * grossMargin / c, c = mean monthly logoChurnRate of the 6 months ending with the last month of P (null months left out; null when c = 0); grossMargin defaults to 1.0",
        KPI_READERS,
    ),
    (
        "upsellRate",
        "ratio",
        "Share of the opening cohort that expanded",
        "|{a in C : a has an EXPANSION movement in P}| / |C|",
        KPI_READERS,
    ),
    (
        "renewalRate",
        "ratio",
        "Share of due subscriptions renewed",
        "renewed due / due; due in P when endDate - 1 day is in P; renewed when another subscription names it in renewsExternalId",
        KPI_READERS,
    ),
    (
        "renewalDollarRate",
        "ratio",
        "Renewed MRR over due MRR (may exceed 1)",
        "sum(mrr of every subscription renewing a due one) / sum(mrr of due ones)",
        KPI_READERS,
    ),
];

const COSTS: &[Entry] = &[
    (
        "cac",
        "currency",
        "Customer acquisition cost (whole portfolio only)",
        "sum(ACQUISITION costs with month in P) / newCustomers",
        COST_READERS,
    ),
    (
        "ltvToCac",
        "ratio",
        "Lifetime value per acquisition cost (whole portfolio only)",
        "ltv / cac, both unrounded",
        COST_READERS,
    ),
    (
        "cacPaybackMonths",
        "months",
        "Months of margin to earn back the CAC (whole portfolio only)",
        "cac / (arpa * grossMargin)",
        COST_READERS,
    ),
    (
        "costToServe",
        "currency",
        "Customer-success cost (whole portfolio only)",
        "sum(CS_SALARIES, CS_TRAINING, CS_TOOLS, CS_PROGRAMS costs with month in P)",
        COST_READERS,
    ),
    (
        "costToServePerAccount",
        "currency",
        "Cost to serve per active account (whole portfolio only)",
        "costToServe / the mean over the months of P of activeCustomers(month)",
        COST_READERS,
    ),
    (
        "customerRetentionCost",
        "currency",
        "Cost to serve per retained opening customer (whole portfolio only)",
        "costToServe / |{a in C : MRR(a, last) > 0}|",
        COST_READERS,
    ),
];

const ACTIVITY: &[Entry] = &[
    ("ticketsOpened", "count", "Support tickets opened", "tickets with openedAt in P", KPI_READERS),
    (
        "firstContactResolutionRate",
        "ratio",
        "Share of resolved tickets solved at the first contact",
        "among tickets with resolvedAt in P (also those with contactsToResolve null): share with contactsToResolve = 1",
        KPI_READERS,
    ),
    (
        "medianFirstResponseHours",
        "hours",
        "Median time to the first response",
        "median of (firstResponseAt - openedAt) in hours over tickets with openedAt in P and a first response (even count: mean of the two middle values)",
        KPI_READERS,
    ),
    (
        "medianResolutionHours",
        "hours",
        "Median time to resolution",
        "median of (resolvedAt - openedAt) in hours over tickets with resolvedAt in P (selected by resolution)",
        KPI_READERS,
    ),
    (
        "medianTimeToFirstValueDays",
        "days",
        "Median time to first value",
        "median of firstValueOn - startedOn in days over accounts with firstValueOn in P and a startedOn",
        KPI_READERS,
    ),
    (
        "onboardingCompletionRate",
        "ratio",
        "Share of active accounts that completed onboarding",
        "among accounts active at the end of P: share with onboardingCompletedOn <= end(P)",
        KPI_READERS,
    ),
    (
        "seatUtilization",
        "ratio",
        "Licensed seats in use (not capped at 1)",
        "over accounts active at the end of P with a usage record dated in (end(P)-30, end(P)]: sum(activeUsers) / sum(licensedSeats) of each one's latest such record",
        KPI_READERS,
    ),
    (
        "engagementRate",
        "ratio",
        "Share of active accounts with a touchpoint",
        "among accounts active at the end of P: share with at least one touchpoint in P (whoever logged it)",
        KPI_READERS,
    ),
    (
        "executiveRelationships",
        "count",
        "Accounts with an executive touchpoint",
        "accounts with at least one touchpoint withExecutive in P",
        KPI_READERS,
    ),
    (
        "referrals",
        "count",
        "Accounts referred by the scope's accounts",
        "accounts whose referredByExternalId names an account of the scope and whose startedOn is in P",
        KPI_READERS,
    ),
    (
        "averageHealthScore",
        "score",
        "Mean health score (0-100) of the active accounts",
        "mean health score on end(P) over accounts active at the end of P; health = sum(w_i * c_i) / sum(w_i) over the present components USAGE, NPS, CSAT, SUPPORT, ENGAGEMENT, REVENUE_TREND",
        KPI_READERS,
    ),
    (
        "dataCompleteness",
        "ratio",
        "Share of active accounts whose health has every component",
        "among accounts active at the end of P: share whose health on end(P) has all six components present (present = has data, whatever its weight)",
        KPI_READERS,
    ),
];

const GROWTH: &[Entry] = &[
    (
        "loginsPerActiveUser",
        "ratio",
        "Logins per active user",
        "over usage records dated in P that have logins: sum(logins) / sum(activeUsers)",
        KPI_READERS,
    ),
    (
        "averageSessionMinutes",
        "minutes",
        "Average session length",
        "over usage records dated in P that have logins and sessionMinutes: sum(sessionMinutes) / sum(logins)",
        KPI_READERS,
    ),
    (
        "featureAdoptionRate",
        "ratio",
        "Share of available features in use",
        "over accounts active at the end of P, each one's latest usage record dated in (end(P)-30, end(P)] with feature counts: sum(featuresUsed) / sum(featuresAvailable)",
        KPI_READERS,
    ),
    ("advocacyActivities", "count", "Advocacy activities", "advocacy records with occurredOn in P", KPI_READERS),
    (
        "advocates",
        "count",
        "Accounts advocating",
        "distinct accounts among the advocacy records with occurredOn in P",
        KPI_READERS,
    ),
    ("featureRequestsOpened", "count", "Feature requests made", "feature requests with requestedAt in P", KPI_READERS),
    (
        "featureRequestsShipped",
        "count",
        "Feature requests shipped",
        "feature requests with shippedAt in P, whatever their status",
        KPI_READERS,
    ),
    ("signups", "count", "Self-serve signups", "accounts with signedUpOn in P", KPI_READERS),
    (
        "visitorConversionRate",
        "ratio",
        "Website visitors who signed up (whole portfolio only)",
        "signups / sum(visitors of the months in P); a month without a traffic row adds 0; null unless the scope is the whole portfolio",
        KPI_READERS,
    ),
    (
        "activationRate",
        "ratio",
        "Signups activated within 30 days",
        "among accounts with signedUpOn in P: share with activatedOn set and activatedOn - signedUpOn <= 30 days (a negative gap counts)",
        KPI_READERS,
    ),
    (
        "trialConversionRate",
        "ratio",
        "Signups that became paying within 90 days",
        "among accounts with signedUpOn in P: share having a subscription with mrr > 0 whose startDate - signedUpOn is between 0 and 90 days, both included",
        KPI_READERS,
    ),
    (
        "viralCoefficient",
        "ratio",
        "Referred signups per opening customer",
        "(accounts with signedUpOn in P whose referredByExternalId names an account of the scope) / startCustomers",
        KPI_READERS,
    ),
    (
        "featureRequests",
        "currency",
        "Feature requests ranked by the MRR asking for them",
        "requests with requestedAt in P grouped by exact title: distinct accounts, mrrAtStake = sum over them of MRR(a, end of the last period), open (OPEN or PLANNED), shipped (SHIPPED); by mrrAtStake, then accounts descending, then title",
        KPI_READERS,
    ),
];

/// Roles that read CSM scorecards.
const SCORECARD_READERS: &[Role] = &[Role::Admin, Role::Manager, Role::Csm];

const HEALTH_AND_SCORECARDS: &[Entry] = &[
    (
        "healthScore",
        "score",
        "An account's health on a day (Account.health), 0-100",
        "sum(w_i * c_i) / sum(w_i) over the present components: USAGE 100*min(1, activeUsers/licensedSeats) of the latest usage record in (d-30, d]; NPS 10*score of the latest NPS response in (d-180, d]; CSAT 25*(mean - 1) in (d-180, d]; SUPPORT max(0, 100 - 25*open tickets); ENGAGEMENT 100*min(3, touchpoints in (d-90, d])/3; REVENUE_TREND 100/70/30/0 for MRR(d) vs MRR(d-90); null when no component is present or the weights sum to 0; GREEN >= 70, YELLOW >= 40 (settings)",
        KPI_READERS,
    ),
    (
        "scorecard.accounts",
        "count",
        "Accounts of the CSM's book active at the end of the period",
        "|{a in book : MRR(a, end(P)) > 0}|",
        SCORECARD_READERS,
    ),
    ("scorecard.bookMrr", "currency", "MRR of the CSM's book", "mrr with scope = the CSM's book", SCORECARD_READERS),
    (
        "scorecard.touchpoints",
        "count",
        "Touchpoints on the CSM's book",
        "touchpoints with occurredAt in P on any account of the book, whoever logged them",
        SCORECARD_READERS,
    ),
    (
        "scorecard.goalAttainment",
        "ratio",
        "Attainment of one goal",
        "min(max(actual / target, 0), 1.2); 0 when actual is null; the CSAT goal is measured on csat",
        SCORECARD_READERS,
    ),
    (
        "scorecard.attainment",
        "ratio",
        "Weighted goal attainment",
        "sum(w_i * attainment_i) / sum(w_i) over the CSM's goals; null with no goals",
        SCORECARD_READERS,
    ),
];

/// Every KPI the API computes today.
pub fn metrics() -> Vec<MetricDefinition> {
    REVENUE
        .iter()
        .chain(COSTS)
        .chain(crate::metrics::voice::CATALOG)
        .chain(ACTIVITY)
        .chain(GROWTH)
        .chain(HEALTH_AND_SCORECARDS)
        .map(|(name, unit, description, formula, roles)| MetricDefinition {
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            unit: (*unit).to_owned(),
            formula: (*formula).to_owned(),
            roles: roles.to_vec(),
        })
        .collect()
}
