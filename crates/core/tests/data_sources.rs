//! Data sources read while planning (`Plan::data_sources`, the AMI look-up on
//! AWS): the plan shows what they name instead of "(known after apply)", and
//! apply records them first, in a batch of their own, so that the objects
//! using them get exactly what the plan showed.

mod common;

use std::collections::BTreeMap;

use chronous_core::plan::{self, Action, PlanOptions};
use chronous_core::resources::{expand, Kind};
use chronous_core::state::{JournalEntry, ResourceRecord};
use common::{apply, empty_state, seed_env, FakeProvider};
use serde_json::{json, Value};

#[test]
fn a_data_source_read_while_planning_is_shown_and_recorded_before_any_step() {
    let env = seed_env();
    let recorded = empty_state(&env);
    let desired = expand(&env);
    let lookup = desired
        .iter()
        .find(|r| r.kind() == Kind::AmiLookup)
        .expect("the seed looks its AMI up");
    // What the backend read while planning, put into the states the plan is made from.
    let read = ResourceRecord {
        address: lookup.address.clone(),
        kind: Kind::AmiLookup,
        id: "ami-0c55b159cbfafe1f0".into(),
        attrs: lookup.spec.to_attrs(),
        outputs: BTreeMap::from([
            ("id".to_string(), json!("ami-0c55b159cbfafe1f0")),
            (
                "name".to_string(),
                json!("amzn2-ami-ecs-hvm-2.0.20240101-x86_64-ebs"),
            ),
        ]),
        deps: vec![],
        tainted: false,
    };
    let mut known = recorded.clone();
    known.resources.insert(read.address.clone(), read.clone());
    let mut p = plan::plan(desired, &known, &known, &PlanOptions::default()).unwrap();
    p.data_sources = vec![read.clone()];

    let change = |address: &str| p.changes.iter().find(|c| c.address == address).unwrap();
    assert_eq!(change(&read.address).action, Action::NoOp);
    assert!(p.drift.is_empty(), "{:?}", p.drift);
    let image = change("aws_launch_template.container_instances")
        .attrs
        .iter()
        .find(|a| a.name == "image_id")
        .unwrap();
    assert_eq!(image.after, Some(json!("ami-0c55b159cbfafe1f0")));
    let text = p.render();
    assert!(
        text.contains("+ image_id = \"ami-0c55b159cbfafe1f0\""),
        "{text}"
    );
    assert!(
        !text.contains("aws_ami_lookup.ecs will be created"),
        "{text}"
    );

    let fake = FakeProvider::default();
    let mut state = recorded.clone();
    let a = apply(&p, &mut state, &fake, 4);
    assert!(a.outcome.ok(), "{:?}", a.outcome.failed);
    assert_eq!(
        a.journal.batches[0],
        vec![JournalEntry::Put {
            record: read.clone()
        }],
        "the data source is recorded first, alone"
    );
    assert_eq!(state.resources[&read.address], read);
    let lt = fake
        .objects()
        .into_values()
        .find(|o| o.kind == Kind::LaunchTemplate)
        .unwrap();
    assert_eq!(
        lt.attrs.get("image_id"),
        Some(&Value::String("ami-0c55b159cbfafe1f0".into()))
    );
}
