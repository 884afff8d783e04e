//! What the EC2 resource modules share: filters, the tags of an EC2 object
//! (made with it, changed in place, and the look-up by tag that finds what an
//! interrupted apply made, checking the tags of every object it gets back).

use std::collections::BTreeMap;

pub(crate) use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::common::*;
use crate::{TAG_ADDRESS, TAG_ENV};

/// What a failed look-up by tag was doing.
pub(crate) const LOOK: &str = "look for an object an earlier apply made";

pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|s| s.to_string()).collect()))
        .build()
}

pub(crate) fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
}

/// The user's tags the record holds (what AWS showed last).
pub(crate) fn old_tags(r: &ResourceRecord) -> BTreeMap<String, String> {
    r.attrs
        .get("tags")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default()
}

impl AwsProvider {
    pub(crate) fn ec2_tags(&self, address: &str, extra: &BTreeMap<String, String>) -> Vec<Tag> {
        self.tags(address, extra)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    pub(crate) fn tag_spec(
        &self,
        rt: ResourceType,
        address: &str,
        extra: &BTreeMap<String, String>,
    ) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(self.ec2_tags(address, extra)))
            .build()
    }

    /// The filters of a look-up by tag: this environment, this address.
    pub(crate) fn own_filters(&self, address: &str) -> Vec<Filter> {
        vec![
            filter(&format!("tag:{TAG_ENV}"), &[&self.opts.env_name]),
            filter(&format!("tag:{TAG_ADDRESS}"), &[address]),
        ]
    }

    /// The id of the first of `items` this environment made for `address`,
    /// not one of `exclude`. The tags are checked here on every object: moto
    /// and other endpoints ignore some filters.
    pub(crate) fn first_ours<'a, T: 'a>(
        &self,
        address: &str,
        exclude: &[String],
        items: impl IntoIterator<Item = &'a T>,
        id_tags: impl Fn(&'a T) -> (Option<&'a str>, &'a [Tag]),
    ) -> Option<String> {
        items
            .into_iter()
            .map(id_tags)
            .filter(|(_, tags)| self.is_ours(address, tag_pairs(tags)))
            .find_map(|(id, _)| {
                id.filter(|i| !exclude.iter().any(|x| x == i))
                    .map(str::to_string)
            })
    }

    /// Make the EC2 tags of `id` what `want` says (chronous's own tags stay).
    pub(crate) async fn sync_tags(
        &self,
        address: &str,
        id: &str,
        have: &BTreeMap<String, String>,
        want: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let gone: Vec<Tag> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| Tag::builder().key(k).build())
            .collect();
        if !gone.is_empty() {
            self.call(|| {
                self.c
                    .ec2
                    .delete_tags()
                    .resources(id)
                    .set_tags(Some(gone.clone()))
                    .send()
            })
            .await
            .map_err(|e| e.provider(address, "remove tags"))?;
        }
        let set = self.ec2_tags(address, want);
        self.call(|| {
            self.c
                .ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(set.clone()))
                .send()
        })
        .await
        .map_err(|e| e.provider(address, "set tags"))?;
        Ok(())
    }
}

/// Define the `find` of an EC2 kind: the look-up by tag of what an
/// interrupted apply made. `$describe` is sent with the environment's and
/// the address's tag filters (and `$extra` ones); the id of the first of
/// `$items` (read from the answer `$o`) whose own tags say it is ours, and
/// that is not excluded, is adopted (see [`AwsProvider::first_ours`]).
macro_rules! find_by_tags {
    ($describe:ident . $set:ident [$($extra:expr),*], |$o:ident| $items:expr, $id:ident) => {
        /// The object an earlier apply made for `address`, found by its tags (not one of `exclude`).
        pub(crate) async fn find(
            p: &AwsProvider,
            address: &str,
            exclude: &[String],
        ) -> Result<Option<String>, ProviderError> {
            let f: Vec<Filter> = p
                .own_filters(address)
                .into_iter()
                .chain(vec![$($extra),*])
                .collect();
            let $o = p
                .call(|| p.c.ec2.$describe().$set(Some(f.clone())).send())
                .await
                .map_err(|e| e.provider(address, LOOK))?;
            Ok(p.first_ours(address, exclude, $items, |v| (v.$id(), v.tags())))
        }

        /// The one object whose `Name` tag is `name` (made by hand, or by
        /// another tool): `None` when there is none or more than one.
        pub(crate) async fn find_named(
            p: &AwsProvider,
            address: &str,
            name: &str,
        ) -> Result<Option<String>, ProviderError> {
            let f: Vec<Filter> = vec![filter("tag:Name", &[name])]
                .into_iter()
                .chain(vec![$($extra),*])
                .collect();
            let $o = p
                .call(|| p.c.ec2.$describe().$set(Some(f.clone())).send())
                .await
                .map_err(|e| e.provider(address, LOOK))?;
            let ids: Vec<String> = IntoIterator::into_iter($items)
                .filter(|v| v.tags().iter().any(|t| t.key() == Some("Name") && t.value() == Some(name)))
                .filter_map(|v| v.$id().map(str::to_string))
                .collect();
            Ok(if ids.len() == 1 { ids.into_iter().next() } else { None })
        }
    };
}
pub(crate) use find_by_tags;

/// Define the `update` of an EC2 kind whose only attributes that change in
/// place are its tags.
macro_rules! update_tags_only {
    ($kind:ident, $spec:ty) => {
        /// Make the object's tags the spec's (`r` is what AWS shows now).
        pub(crate) async fn update(
            p: &AwsProvider,
            r: &ResourceRecord,
            s: &$spec,
        ) -> Result<Observed, ProviderError> {
            p.sync_tags(&r.address, &r.id, &old_tags(r), &s.tags)
                .await?;
            settle(
                p,
                &record(&r.address, Kind::$kind, &r.id, attrs_of(s)),
                read,
            )
            .await
        }
    };
}
pub(crate) use update_tags_only;
