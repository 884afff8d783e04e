//! The `[existing]` section: the names and tags of objects that existed before
//! chronous (written by `chronous init --from-terraform`). Keys are chronous
//! addresses; each must name an object of this environment that has a name
//! (`names`) or a `Name` tag (`name_tags`).

use std::collections::BTreeMap;

use super::{sp, Validator, S};
use crate::env::{raw, Environment, Existing};
use crate::resources::{expand, name_of, tags_of};

fn plain(m: &BTreeMap<S<String>, S<String>>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
        .collect()
}

impl Validator {
    pub(super) fn existing_values(&mut self, e: Option<&raw::Existing>) -> Existing {
        let Some(e) = e else {
            return Existing::default();
        };
        for k in e.tags.keys() {
            if k.get_ref() == "Name"
                || k.get_ref().starts_with("chronous:")
                || k.get_ref().starts_with("aws:")
            {
                self.err("E1501", format!("tag `{}` cannot be set for every object", k.get_ref()), sp(k), "reserved", "Name is per object (existing.name_tags); chronous: and aws: tags belong to chronous and AWS");
            }
        }
        Existing {
            tags: plain(&e.tags),
            names: plain(&e.names),
            name_tags: plain(&e.name_tags),
        }
    }

    /// Every key names an object of the expanded environment that has a name / a Name tag.
    pub(super) fn existing_addresses(&mut self, e: Option<&raw::Existing>, env: &Environment) {
        let Some(e) = e else {
            return;
        };
        let resources = expand(env);
        let has_name = |s: &crate::resources::Spec| name_of(s).is_some();
        let has_tag = |s: &crate::resources::Spec| tags_of(s).is_some();
        for (map, what, has) in [
            (
                &e.names,
                "name",
                &has_name as &dyn Fn(&crate::resources::Spec) -> bool,
            ),
            (&e.name_tags, "Name tag", &has_tag),
        ] {
            for k in map.keys() {
                match resources.iter().find(|r| r.address == *k.get_ref()) {
                    None => self.err("E1502", format!("no object `{}` in this environment", k.get_ref()), sp(k), "unknown address", "keys are chronous addresses, as `chronous plan` and `chronous state list` show them"),
                    Some(r) if !has(&r.spec) => self.err("E1503", format!("`{}` has no {what} to set", k.get_ref()), sp(k), "not settable", "existing.names: the kinds with a name (security groups, roles, profiles, groups, ...); existing.name_tags: the tagged kinds (VPC, subnets, gateways, route tables, instances)"),
                    Some(_) => {}
                }
            }
        }
    }
}
