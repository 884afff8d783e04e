//! The backup's content hash in plans: a new hash re-uploads the object and
//! replaces the database with a data-loss note; a hash known on one side only
//! (a state written before hashes were recorded, or a command that did not
//! look at the file) is no change.

mod common;

use chronous_core::plan::Action;
use common::*;

const OLD: &str = "332d5f411c79afc15e49c4929ce8fd11d7d4e6afe47af479e6ebcfed4656dad8";
const NEW: &str = "9c8e4cd3862793997b8543e0d1d0958b73e362bb9495942751e1e2f5f28f798a";

fn seed_with_hash(h: Option<&str>) -> chronous_core::env::Environment {
    let mut env = seed_env();
    let rs = env.database.as_mut().unwrap().restore.as_mut().unwrap();
    rs.backup_sha256 = h.map(str::to_string);
    env
}

fn applied(h: Option<&str>) -> chronous_core::state::State {
    let env = seed_with_hash(h);
    let fake = FakeProvider::new();
    let mut state = empty_state(&env);
    let plan = plan_env(&env, &state, false);
    apply(&plan, &mut state, &fake, 4);
    state
}

#[test]
fn a_new_backup_hash_replaces_the_database_and_says_the_rows_are_lost() {
    let state = applied(Some(OLD));
    let plan = plan_env(&seed_with_hash(Some(NEW)), &state, false);
    let action = |a: &str| plan.changes.iter().find(|c| c.address == a).unwrap();
    assert_eq!(action("aws_s3_object.xtrabackup").action, Action::Update);
    let db = action("aws_db_instance.main");
    assert_eq!(db.action, Action::DeleteThenCreate, "{db:?}");
    assert!(db
        .data_loss
        .as_deref()
        .is_some_and(|d| d.contains("every row written since the last restore is lost")));
    let text = plan.render();
    assert!(text.contains("# DATA LOSS: the backup changed"), "{text}");
    // Nothing else loses data.
    assert_eq!(
        plan.changes
            .iter()
            .filter(|c| c.data_loss.is_some())
            .count(),
        1
    );
}

#[test]
fn a_hash_known_on_one_side_only_is_no_change() {
    // A state written before hashes were recorded, planned with the hash.
    let state = applied(None);
    let plan = plan_env(&seed_with_hash(Some(NEW)), &state, false);
    assert!(!plan.has_changes(), "{}", plan.render());
    // A state with the hash, planned by a command that did not look at the file.
    let state = applied(Some(OLD));
    let plan = plan_env(&seed_with_hash(None), &state, false);
    assert!(!plan.has_changes(), "{}", plan.render());
}
