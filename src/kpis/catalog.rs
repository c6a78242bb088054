//! The metric catalog BI tools read (`metricCatalog`): every KPI with its unit, its formula in
//! words (as KPIS.md states it) and the roles that may read it. Each KPI family states its rows
//! beside its formulas; a family's rows name its fields, which decide whether a query computes it.
use super::MetricDefinition;
use crate::metrics::catalog::Entry;
use crate::metrics::{health, renewals, voice};

/// Every family's entries, in the catalog's order.
const FAMILIES: [&[Entry]; 11] = [
    super::revenue::CATALOG,
    renewals::CATALOG,
    super::costs::CATALOG,
    voice::CATALOG,
    super::support::CATALOG,
    super::adoption::CATALOG,
    super::health::CATALOG,
    super::growth::CATALOG,
    super::requests::CATALOG,
    health::CATALOG,
    super::goals::CATALOG,
];

/// Every KPI the API computes today.
pub fn metrics() -> Vec<MetricDefinition> {
    FAMILIES
        .iter()
        .flat_map(|family| family.iter())
        .map(|(name, unit, description, formula, roles)| MetricDefinition {
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            unit: (*unit).to_owned(),
            formula: (*formula).to_owned(),
            roles: roles.to_vec(),
        })
        .collect()
}
