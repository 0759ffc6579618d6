//! Facts (serde) straight to CEL runtime values, in one pass.
//!
//! `cel::to_value` builds a `cel::Value` tree, which the context then converts (cloning every
//! node) into the `Val` objects the interpreter reads: two full copies per subject. This
//! serializer builds the `Val` objects directly, the same types the crate's own conversion
//! produces (`CelMap`, `CelList`, `CelString`, `CelInt`, ...), so evaluation semantics are
//! unchanged; it roughly halves the per-service preparation cost, which dominates evaluation.
//! Integers stay CEL `int` (the facts use `i64`), `None` becomes `null`, enum variants strings.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde::Serialize;
use serde::ser::{self, Impossible};

use super::uses::Projection;

pub(crate) type BoxVal = Box<dyn Val + 'static>;

#[derive(Debug)]
pub(crate) struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Convert any serialisable value.
pub(crate) fn to_val<T: Serialize + ?Sized>(v: &T) -> Result<BoxVal, String> {
    v.serialize(Ser(None)).map_err(|e| e.0)
}

/// Convert only the fields `projection` keeps: a struct field it does not name is skipped
/// without being visited (its value is never serialised).
pub(crate) fn to_val_projected<T: Serialize + ?Sized>(
    v: &T,
    projection: &Projection,
) -> Result<BoxVal, String> {
    v.serialize(Ser::new(projection)).map_err(|e| e.0)
}

/// The serializer, with the projection of the value at hand (`None`: all of it).
#[derive(Clone, Copy)]
struct Ser<'p>(Option<&'p Projection>);

impl<'p> Ser<'p> {
    fn new(projection: &'p Projection) -> Self {
        Ser((!projection.is_whole()).then_some(projection))
    }
}

fn unsupported(what: &str) -> Error {
    Error(format!("{what} cannot be a rule value"))
}

impl<'p> ser::Serializer for Ser<'p> {
    type Ok = BoxVal;
    type Error = Error;
    type SerializeSeq = Seq<'p>;
    type SerializeTuple = Seq<'p>;
    type SerializeTupleStruct = Seq<'p>;
    type SerializeTupleVariant = Impossible<BoxVal, Error>;
    type SerializeMap = MapSer<'p>;
    type SerializeStruct = MapSer<'p>;
    type SerializeStructVariant = Impossible<BoxVal, Error>;

    fn serialize_bool(self, v: bool) -> Result<BoxVal, Error> {
        Ok(Box::new(CelBool::from(v)))
    }
    fn serialize_i8(self, v: i8) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<BoxVal, Error> {
        Ok(Box::new(CelInt::from(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<BoxVal, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<BoxVal, Error> {
        Ok(Box::new(CelUInt::from(v)))
    }
    fn serialize_f32(self, v: f32) -> Result<BoxVal, Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<BoxVal, Error> {
        Ok(Box::new(CelDouble::from(v)))
    }
    fn serialize_char(self, v: char) -> Result<BoxVal, Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<BoxVal, Error> {
        Ok(Box::new(CelString::from(v.to_string())))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<BoxVal, Error> {
        Err(unsupported("bytes"))
    }
    fn serialize_none(self) -> Result<BoxVal, Error> {
        Ok(Box::new(CelNull))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<BoxVal, Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<BoxVal, Error> {
        Ok(Box::new(CelNull))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<BoxVal, Error> {
        Ok(Box::new(CelNull))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<BoxVal, Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<BoxVal, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _v: &T,
    ) -> Result<BoxVal, Error> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'p>, Error> {
        // Lists are transparent to projections: each element gets the list's.
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0).min(4096)), self))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'p>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'p>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer<'p>, Error> {
        // Map keys are data, not field names: a projection cannot name them, so a map is
        // converted whole (the facts have none; this keeps the converter general).
        Ok(MapSer {
            map: HashMap::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
            projection: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer<'p>, Error> {
        Ok(MapSer {
            map: HashMap::with_capacity(len.min(4096)),
            key: None,
            projection: self.0,
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(unsupported("an enum variant with data"))
    }
}

pub(crate) struct Seq<'p>(Vec<BoxVal>, Ser<'p>);

impl Seq<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.0.push(v.serialize(self.1)?);
        Ok(())
    }
    fn done(self) -> BoxVal {
        Box::new(CelList::from(self.0))
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = BoxVal;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }
    fn end(self) -> Result<BoxVal, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = BoxVal;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }
    fn end(self) -> Result<BoxVal, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = BoxVal;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }
    fn end(self) -> Result<BoxVal, Error> {
        Ok(self.done())
    }
}

pub(crate) struct MapSer<'p> {
    map: HashMap<CelMapKey<'static>, BoxVal>,
    key: Option<CelMapKey<'static>>,
    /// The fields to keep (`None`: all).
    projection: Option<&'p Projection>,
}

impl MapSer<'_> {
    fn done(self) -> BoxVal {
        Box::new(CelMap::from(self.map))
    }
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = BoxVal;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        let k = k.serialize(Ser(None))?;
        let k = CelMapKey::try_from(k).map_err(|e| Error(e.to_string()))?;
        self.key = Some(k);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let k = self
            .key
            .take()
            .ok_or_else(|| Error("map value without a key".into()))?;
        self.map.insert(k, v.serialize(Ser(None))?);
        Ok(())
    }
    fn end(self) -> Result<BoxVal, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeStruct for MapSer<'_> {
    type Ok = BoxVal;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        let ser = match self.projection {
            None => Ser(None),
            Some(p) => match p.field(key) {
                // Not read by any loaded rule: skipped, its value never visited.
                None => return Ok(()),
                Some(child) => Ser::new(child),
            },
        };
        // Field names are `'static`: the key borrows the name instead of copying it.
        self.map.insert(CelMapKey::from(key), v.serialize(ser)?);
        Ok(())
    }
    /// A field serde skips (`skip_serializing_if = "Vec::is_empty"`, as `service.unknown`):
    /// in the facts only lists are skipped, and only when empty, so a rule reads `[]`.
    fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
        if self.projection.is_none_or(|p| p.field(key).is_some()) {
            let empty: Vec<BoxVal> = Vec::new();
            self.map
                .insert(CelMapKey::from(key), Box::new(CelList::from(empty)));
        }
        Ok(())
    }
    fn end(self) -> Result<BoxVal, Error> {
        Ok(self.done())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Activation, Expr, Value};
    use crate::facts::{AssessReason, ErrorFact, Level, ServiceFacts};

    /// A list serde skips when empty (`service.unknown`) still reads as `[]`.
    #[test]
    fn a_skipped_empty_list_reads_as_empty() {
        let s = ServiceFacts::default();
        let root = Activation::root();
        let mut act = root.child();
        assert_eq!(act.set_facts("service", &s), Ok(()));
        let e = Expr::compile("size(service.unknown) == 0").unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(e.eval_bool(&act), Ok(true));
    }

    /// The direct conversion must read exactly like the crate's own (`cel::to_value` + context
    /// conversion) for every kind of field.
    #[test]
    fn direct_conversion_evaluates_like_the_crates_own() {
        let mut s = ServiceFacts {
            code: "1.004222".into(),
            level: Level::Full,
            ..ServiceFacts::default()
        };
        s.signature.providers = vec!["vgca".into(), "smartca".into()];
        s.fetch.status = 200;
        s.fetch.error = Some(ErrorFact {
            kind: AssessReason::Timeout,
            message: "m".into(),
        });
        let root = Activation::root();
        let mut direct = root.child();
        assert_eq!(direct.set_facts("service", &s), Ok(()));
        let mut via_value = root.child();
        match Value::from_serialize(&s) {
            Ok(v) => via_value.set("service", v),
            Err(e) => panic!("{e}"),
        }
        for src in [
            "service.level == 'full'",
            "service.fetch.status == 200",
            "service.fetch.status + 1",
            "'vgca' in service.signature.providers",
            "size(service.signature.providers)",
            "service.fetch.error.kind",
            "service.signature.evidence",
            "has(service.fetch.error) && service.fetch.error != null",
            "service.code.startsWith('1.')",
            "service.signature.required",
        ] {
            let e = Expr::compile(src).unwrap_or_else(|p| panic!("{p:?}"));
            assert_eq!(e.eval(&direct), e.eval(&via_value), "{src}");
            assert!(e.eval(&direct).is_ok(), "{src}");
        }
    }
}
