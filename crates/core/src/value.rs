//! References between resources inside attribute values.
//!
//! A spec names another resource's computed attribute as `${ADDRESS.ATTR}`
//! (for example `${aws_vpc.main.id}`), inside a string or as the whole string.
//! Dependencies are exactly the references a spec contains, as in Terraform.

use std::collections::BTreeSet;

use serde_json::Value;

/// A reference found in a value: the resource address and the attribute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ref {
    pub address: String,
    pub attr: String,
}

/// Text written into a value whose reference cannot be known before apply.
pub const UNKNOWN: &str = "(known after apply)";

/// Build the reference text for `address.attr`.
pub fn reference(address: &str, attr: &str) -> String {
    format!("${{{address}.{attr}}}")
}

fn parse_refs(s: &str, mut f: impl FnMut(std::ops::Range<usize>, Ref)) {
    let mut i = 0;
    while let Some(start) = s[i..].find("${") {
        let start = i + start;
        let Some(len) = s[start..].find('}') else {
            return;
        };
        let end = start + len + 1;
        let inner = &s[start + 2..end - 1];
        if let Some(dot) = inner.rfind('.') {
            let (address, attr) = (&inner[..dot], &inner[dot + 1..]);
            if address.contains('.') {
                f(
                    start..end,
                    Ref {
                        address: address.to_string(),
                        attr: attr.to_string(),
                    },
                );
            }
        }
        i = end;
    }
}

/// Every reference in a value.
pub fn refs(v: &Value) -> BTreeSet<Ref> {
    let mut out = BTreeSet::new();
    walk(v, &mut |s| {
        parse_refs(s, |_, r| {
            out.insert(r);
        })
    });
    out
}

fn walk(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Replace every reference with what `lookup` gives. A reference `lookup`
/// cannot answer becomes [`UNKNOWN`] (the whole string, if it is embedded).
/// A string that is exactly one reference takes the looked-up value's type.
pub fn resolve(v: &Value, lookup: &impl Fn(&Ref) -> Option<Value>) -> Value {
    match v {
        Value::String(s) if s.contains("${") => {
            let mut found: Vec<(std::ops::Range<usize>, Ref)> = Vec::new();
            parse_refs(s, |r, x| found.push((r, x)));
            if found.is_empty() {
                return v.clone();
            }
            if found.len() == 1 && found[0].0 == (0..s.len()) {
                return lookup(&found[0].1).unwrap_or_else(|| Value::String(UNKNOWN.into()));
            }
            let mut out = String::new();
            let mut last = 0;
            for (range, r) in found {
                out.push_str(&s[last..range.start]);
                match lookup(&r) {
                    Some(Value::String(x)) => out.push_str(&x),
                    Some(other) => out.push_str(&other.to_string()),
                    None => return Value::String(UNKNOWN.into()),
                }
                last = range.end;
            }
            out.push_str(&s[last..]);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, lookup)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), resolve(x, lookup)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a resolved value still holds something unknown.
pub fn has_unknown(v: &Value) -> bool {
    let mut found = false;
    walk(v, &mut |s| found |= s == UNKNOWN);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_resolves_references() {
        let v = json!({"vpc_id": "${aws_vpc.main.id}", "user_data": "ECS_CLUSTER=${aws_ecs_cluster.main.name}\n", "n": 3});
        let r: Vec<String> = refs(&v)
            .into_iter()
            .map(|r| format!("{}.{}", r.address, r.attr))
            .collect();
        assert_eq!(r, vec!["aws_ecs_cluster.main.name", "aws_vpc.main.id"]);
        let out = resolve(&v, &|r| {
            (r.address == "aws_vpc.main").then(|| json!("vpc-1"))
        });
        assert_eq!(
            out,
            json!({"vpc_id": "vpc-1", "user_data": UNKNOWN, "n": 3})
        );
        assert!(has_unknown(&out));
    }
}
