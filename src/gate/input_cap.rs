//! The passport's largest `max_file_size_bytes`, read for the input cap before anything is
//! verified. Only the number is wanted, so the document is walked by serde without being
//! built: a `Value` tree of the whole passport cost more than the rest of the read.

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The largest `limits.<capability>.max_file_size_bytes` that is a `u64`, as
/// `serde_json::Value` would give it: a later duplicate key replaces an earlier one, an entry
/// or size of another type is passed over, and a document whose top level or `limits` is not
/// an object has none, and neither has an unreadable one.
pub(super) fn largest_file_size(bytes: &[u8]) -> Option<u64> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = serde::de::DeserializeSeed::deserialize(Level::Top, &mut de).ok()?;
    de.end().ok()?;
    found
}

/// Where in the document a value is.
#[derive(Clone, Copy)]
enum Level {
    /// The passport object.
    Top,
    /// The value of `limits`.
    Limits,
    /// One capability's entry in `limits`.
    Entry,
    /// A `max_file_size_bytes` value.
    Size,
}

/// Walks one value at `level`: `Some(size)` where that level has one.
impl<'de> serde::de::DeserializeSeed<'de> for Level {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a passport")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut largest: Option<u64> = None;
        let mut own: Option<u64> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (self, key.as_ref()) {
                (Level::Top, "limits") => own = map.next_value_seed(Level::Limits)?,
                (Level::Limits, _) => {
                    let size = map.next_value_seed(Level::Entry)?;
                    largest = largest.max(size);
                }
                (Level::Entry, "max_file_size_bytes") => own = map.next_value_seed(Level::Size)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match self {
            Level::Limits => largest,
            Level::Top | Level::Entry => own,
            Level::Size => None,
        })
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
        Ok(matches!(self, Level::Size).then_some(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The reading this replaces: the whole document as a `Value`.
    fn by_value(bytes: &[u8]) -> Option<u64> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        v.get("limits")?
            .as_object()?
            .values()
            .filter_map(|c| c.get("max_file_size_bytes")?.as_u64())
            .max()
    }

    #[test]
    fn the_walk_finds_what_the_value_tree_finds() {
        let docs = [
            r#"{"limits":{"a":{"max_file_size_bytes":10},"b":{"max_file_size_bytes":30},"c":{}}}"#,
            r#"{"spec_version":"oap/1.0","limits":{"a":{"allowed_paths":["x",{"max_file_size_bytes":99}],"max_file_size_bytes":5}}}"#,
            r#"{"limits":{"a":{"max_file_size_bytes":10,"max_file_size_bytes":3}}}"#,
            r#"{"limits":5,"limits":{"a":{"max_file_size_bytes":7}}}"#,
            r#"{"limits":{"a":{"max_file_size_bytes":7}},"limits":null}"#,
            r#"{"limits":{"a":5,"b":"x","c":[1],"d":null,"e":{"max_file_size_bytes":8}}}"#,
            r#"{"limits":{"a":{"max_file_size_bytes":-1},"b":{"max_file_size_bytes":2.5},"c":{"max_file_size_bytes":"9"}}}"#,
            r#"{"limits":{"a":{"max_file_size_bytes":{"max_file_size_bytes":4}}}}"#,
            r#"{"limits":{"a":{"max_file_size_bytes":18446744073709551615}}}"#,
            r#"{"\u006cimits":{"a":{"max_\u0066ile_size_bytes":12}}}"#,
            r#"{"max_file_size_bytes":3,"other":{"limits":{"a":{"max_file_size_bytes":4}}}}"#,
            r#"[{"limits":{"a":{"max_file_size_bytes":4}}}]"#,
            r#"{"limits":{"a":{"max_file_size_bytes":4}}} trailing"#,
            "",
            "null",
        ];
        // And a document cut short.
        let cut = &docs[0][..docs[0].len() - 1];
        for doc in docs.iter().copied().chain([cut]) {
            assert_eq!(
                super::largest_file_size(doc.as_bytes()),
                by_value(doc.as_bytes()),
                "{doc}"
            );
        }
        assert_eq!(super::largest_file_size(docs[0].as_bytes()), Some(30));
    }
}
