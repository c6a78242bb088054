//! The demo company loads through the mutations, replays unchanged, and every role's demo user
//! can sign in.
use cs_kpi::auth::Role;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_demo_company_loads_replays_unchanged_and_signs_in_every_role() {
    let app = TestApp::spawn().await;
    let first = cs_kpi::demo::seed(&app.db).await.unwrap_or_else(|e| panic!("{}", e.detail()));
    assert!(first.counts.created > 20_000, "{first}");
    let again = cs_kpi::demo::seed(&app.db).await.unwrap_or_else(|e| panic!("{}", e.detail()));
    assert_eq!((again.counts.created, again.counts.updated), (0, 0), "{again}");
    let first_rows = first.counts.created + first.counts.updated + first.counts.unchanged;
    assert_eq!(again.counts.unchanged, first_rows, "every row of the first load, the team managers included");

    let users =
        entity::user::Entity::find().order_by_asc(entity::user::Column::Email).all(&app.db).await.expect("users");
    for role in [Role::Admin, Role::Manager, Role::Csm, Role::Finance, Role::Integration] {
        let user = users.iter().find(|u| u.role == role.as_db()).unwrap_or_else(|| panic!("no demo {role:?}"));
        let reply = app.gql(&user.email, "{ me { email role } }", json!({})).await;
        assert_eq!(reply.data()["me"], json!({ "email": user.email, "role": role.as_db() }));
    }
    let reply = app.gql("finance@demo.example", "{ accounts { totalCount } }", json!({})).await;
    assert_eq!(reply.data()["accounts"]["totalCount"], 300);
}
