//! The shape of a metric catalog entry (`metricCatalog`), which each KPI family states beside
//! its formulas.
use crate::auth::Role;

/// Roles that read `kpis`.
pub const KPI_READERS: &[Role] = &[Role::Admin, Role::Manager, Role::Csm, Role::Finance];

/// (name, unit, description, formula as KPIS.md states it, roles that may read it)
pub type Entry = (&'static str, &'static str, &'static str, &'static str, &'static [Role]);
