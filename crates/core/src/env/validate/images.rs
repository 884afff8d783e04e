//! The `[key_pair]` and `[images.KEY]` sections: what the instances are
//! reached with and what the tasks run (repository and Docker tag).

use super::{sp, Validator};
use crate::env::raw;
use crate::env::{Image, KeyPair};

impl Validator {
    pub(super) fn key_pair(&mut self, k: &raw::KeyPair) -> KeyPair {
        KeyPair {
            name: self.name("key pair name", &k.name),
            public_key_file: k.public_key_file.get_ref().clone(),
        }
    }

    pub(super) fn images(&mut self, r: &raw::File) -> Vec<Image> {
        let mut images = Vec::new();
        for (k, i) in &r.images {
            if i.repository.get_ref().is_empty()
                || i.repository.get_ref().contains(char::is_whitespace)
            {
                self.err(
                    "E0501",
                    format!("image repository `{}` is not valid", i.repository.get_ref()),
                    sp(&i.repository),
                    "bad repository",
                    "use a repository name such as chronous-payments-web-api",
                );
            }
            let tag = i.tag.get_ref();
            if tag.is_empty()
                || tag.len() > 128
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                self.err(
                    "E0502",
                    format!("image tag `{tag}` is not a valid Docker tag"),
                    sp(&i.tag),
                    "bad tag",
                    "tags are 1-128 letters, digits, `.`, `_` or `-`",
                );
            }
            images.push(Image {
                key: k.get_ref().clone(),
                repository: i.repository.get_ref().clone(),
                tag: tag.clone(),
            });
        }
        images
    }
}
