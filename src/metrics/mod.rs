//! Layer 3, KPI definitions that both the write side (the ledger) and the read side (the KPI
//! reads) use: the kinds of MRR movement and account health. Below the ledger, above auth.
pub mod health;

use crate::base::db_enum::db_enum;

db_enum!(
    /// The kind of an MRR movement (KPIS.md, section 1).
    MovementKind {
        New => "NEW",
        Expansion => "EXPANSION",
        Contraction => "CONTRACTION",
        Churn => "CHURN",
        Reactivation => "REACTIVATION",
    }
);
