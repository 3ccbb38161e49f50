//! A contract's ABI (the `veil_abi` section `export!` writes): calling methods by name with
//! JSON arguments, and reading results back as JSON.
//!
//! Types are the Rust types the contract declared, in the contract codec (`docs/contracts.md`):
//! integers (`u8`..`u128`, `i8`..`i128`; JSON numbers, or decimal strings for values beyond
//! 2^53), `bool`, `String`, `AccountId` and `ContractId` and `[u8; 32]` (hex), `Vec<u8>` (hex),
//! `Vec<T>` (arrays), `Option<T>` (`null` or the value), `()` and pairs `(A, B)` (arrays of
//! two). Anything else is refused with its name, never guessed.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use veil_primitives::{from_hex, to_hex};

/// Deepest nesting of a type, the innermost type included (`Vec<Option<u8>>` is three levels).
/// A contract's ABI is its author's text: deeper nesting would only exhaust the client's stack.
pub const MAX_TYPE_DEPTH: usize = 16;

/// Longest type text (whitespace removed) a client reads. Types are parsed once per call into
/// a tree, so their length costs once, not once per item of a result.
pub const MAX_TYPE_LEN: usize = 1_024;

/// Values a result may decode to beyond one per byte. A unit item (`()`) takes no bytes, so
/// without a budget a malicious contract's `Vec<Vec<()>>` turns kilobytes into billions of
/// values.
pub const SPARE_VALUES: usize = 65_536;

/// Items reserved up front for a decoded vector; a longer one grows as its items decode.
const MAX_RESERVED_ITEMS: usize = 4_096;

/// A contract's ABI.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Abi {
    /// Format version (1).
    pub veil_abi: u32,
    /// Arguments of `init`.
    pub init: Vec<Arg>,
    /// Commands.
    pub commands: Vec<Method>,
    /// Queries.
    pub queries: Vec<Method>,
}

/// A named, typed argument.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Arg {
    /// Name.
    pub name: String,
    /// Rust type as declared.
    #[serde(rename = "type")]
    pub ty: String,
}

/// A command or query.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Method {
    /// Name.
    pub name: String,
    /// Its stable tag byte.
    pub tag: u8,
    /// Arguments, in order.
    pub args: Vec<Arg>,
    /// Result type.
    pub returns: String,
}

/// Which list a method is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A command (through the chain).
    Command,
    /// A query (straight to the worker).
    Query,
}

impl Abi {
    /// Parses the ABI section's JSON.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let abi: Abi =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("malformed ABI: {e}"))?;
        anyhow::ensure!(
            abi.veil_abi == 1,
            "unsupported ABI version {}",
            abi.veil_abi
        );
        Ok(abi)
    }

    /// A method by name.
    pub fn method(&self, kind: Kind, name: &str) -> anyhow::Result<&Method> {
        let list = match kind {
            Kind::Command => &self.commands,
            Kind::Query => &self.queries,
        };
        list.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
            anyhow::anyhow!(
                "no {} `{name}`; the contract has: {}",
                if kind == Kind::Command {
                    "command"
                } else {
                    "query"
                },
                names.join(", ")
            )
        })
    }

    /// Encodes `init`'s arguments from a JSON object.
    pub fn encode_init(&self, args: &Value) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        encode_args(&self.init, args, &mut out)?;
        Ok(out)
    }

    /// Encodes a call of `name` (its tag, then its arguments) from a JSON object.
    pub fn encode_call(&self, kind: Kind, name: &str, args: &Value) -> anyhow::Result<Vec<u8>> {
        let method = self.method(kind, name)?;
        let mut out = vec![method.tag];
        encode_args(&method.args, args, &mut out)?;
        Ok(out)
    }

    /// Decodes a result of `name` as JSON.
    pub fn decode_result(&self, kind: Kind, name: &str, bytes: &[u8]) -> anyhow::Result<Value> {
        let method = self.method(kind, name)?;
        Ty::parse(&method.returns)
            .and_then(|ty| decode_all(&ty, bytes))
            .map_err(|e| anyhow::anyhow!("result of `{name}` ({}): {e}", method.returns))
    }
}

fn encode_args(args: &[Arg], json: &Value, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let empty = Map::new();
    let object = match json {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => anyhow::bail!("arguments must be a JSON object, not {other}"),
    };
    for key in object.keys() {
        anyhow::ensure!(
            args.iter().any(|a| &a.name == key),
            "unknown argument `{key}`; expected: {}",
            args.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for arg in args {
        let value = object
            .get(&arg.name)
            .ok_or_else(|| anyhow::anyhow!("missing argument `{}` ({})", arg.name, arg.ty))?;
        Ty::parse(&arg.ty)
            .and_then(|ty| encode(&ty, value, out))
            .map_err(|e| anyhow::anyhow!("argument `{}`: {e}", arg.name))?;
    }
    Ok(())
}

/// A type of the contract codec, parsed from the ABI's text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ty {
    Int {
        name: &'static str,
        bytes: usize,
        signed: bool,
    },
    Bool,
    Unit,
    String,
    /// `AccountId`, `ContractId`, `[u8; 32]`: 32 raw bytes, hex in JSON.
    Id,
    /// `Vec<u8>`: hex in JSON.
    Bytes,
    Option(Box<Ty>),
    Vec(Box<Ty>),
    Pair(Box<Ty>, Box<Ty>),
}

impl Ty {
    /// Parses a type as the ABI writes it (whitespace ignored: `stringify!` spacing varies
    /// between compilers), within [MAX_TYPE_LEN] and [MAX_TYPE_DEPTH]; anything else is
    /// refused by name, never guessed.
    fn parse(text: &str) -> anyhow::Result<Ty> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        anyhow::ensure!(
            text.len() <= MAX_TYPE_LEN,
            "a type of {} characters, over the limit of {MAX_TYPE_LEN}",
            text.len()
        );
        Ty::parse_at(&text, 1)
    }

    fn parse_at(ty: &str, depth: usize) -> anyhow::Result<Ty> {
        anyhow::ensure!(
            depth <= MAX_TYPE_DEPTH,
            "the type nests deeper than {MAX_TYPE_DEPTH} levels"
        );
        let int = |name, bytes, signed| Ty::Int {
            name,
            bytes,
            signed,
        };
        let boxed = |ty: &str| Ty::parse_at(ty, depth + 1).map(Box::new);
        Ok(match ty {
            "u8" => int("u8", 1, false),
            "u16" => int("u16", 2, false),
            "u32" => int("u32", 4, false),
            "u64" => int("u64", 8, false),
            "u128" => int("u128", 16, false),
            "i8" => int("i8", 1, true),
            "i16" => int("i16", 2, true),
            "i32" => int("i32", 4, true),
            "i64" => int("i64", 8, true),
            "i128" => int("i128", 16, true),
            "bool" => Ty::Bool,
            "()" => Ty::Unit,
            "String" => Ty::String,
            "AccountId" | "ContractId" | "[u8;32]" => Ty::Id,
            "Vec<u8>" => Ty::Bytes,
            _ => {
                if let Some(item) = inner(ty, "Option<") {
                    Ty::Option(boxed(item)?)
                } else if let Some(item) = inner(ty, "Vec<") {
                    Ty::Vec(boxed(item)?)
                } else if let Some((a, b)) = pair(ty) {
                    Ty::Pair(boxed(a)?, boxed(b)?)
                } else {
                    anyhow::bail!("type {ty} is not supported by clients")
                }
            }
        })
    }
}

fn inner<'a>(ty: &'a str, prefix: &str) -> Option<&'a str> {
    ty.strip_prefix(prefix)?.strip_suffix('>')
}

/// Splits `A,B` at the top-level comma.
fn pair(ty: &str) -> Option<(&str, &str)> {
    let body = ty.strip_prefix('(')?.strip_suffix(')')?;
    let mut depth = 0i32;
    for (i, c) in body.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => return Some((&body[..i], &body[i + 1..])),
            _ => {}
        }
    }
    None
}

fn unsigned(value: &Value) -> anyhow::Result<u128> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| anyhow::anyhow!("{n} is not a non-negative integer")),
        Value::String(s) => s
            .parse::<u128>()
            .map_err(|_| anyhow::anyhow!("\"{s}\" is not a non-negative integer")),
        other => anyhow::bail!("expected an integer, got {other}"),
    }
}

fn signed(value: &Value) -> anyhow::Result<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .ok_or_else(|| anyhow::anyhow!("{n} is not an integer")),
        Value::String(s) => s
            .parse::<i128>()
            .map_err(|_| anyhow::anyhow!("\"{s}\" is not an integer")),
        other => anyhow::bail!("expected an integer, got {other}"),
    }
}

fn bytes32(value: &Value) -> anyhow::Result<[u8; 32]> {
    let text = value
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("expected a 32-byte hex string, got {value}"))?;
    let bytes = from_hex(text).map_err(|e| anyhow::anyhow!("\"{text}\": {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("\"{text}\" has {} bytes, not 32", b.len()))
}

fn encode(ty: &Ty, value: &Value, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match ty {
        Ty::Int {
            name,
            bytes,
            signed: false,
        } => {
            let n = unsigned(value)?;
            anyhow::ensure!(
                *bytes == 16 || n >> (8 * bytes) == 0,
                "{n} does not fit {name}"
            );
            out.extend_from_slice(&n.to_le_bytes()[..*bytes]);
        }
        Ty::Int {
            name,
            bytes,
            signed: true,
        } => {
            let n = signed(value)?;
            let bits = 8 * *bytes as u32;
            anyhow::ensure!(
                bits == 128 || (-(1i128 << (bits - 1))..1i128 << (bits - 1)).contains(&n),
                "{n} does not fit {name}"
            );
            out.extend_from_slice(&n.to_le_bytes()[..*bytes]);
        }
        Ty::Bool => out.push(
            value
                .as_bool()
                .ok_or_else(|| anyhow::anyhow!("expected true or false, got {value}"))?
                as u8,
        ),
        Ty::Unit => {}
        Ty::String => {
            let s = value
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("expected a string, got {value}"))?;
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Ty::Id => out.extend_from_slice(&bytes32(value)?),
        Ty::Bytes => {
            let text = value
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("expected a hex string, got {value}"))?;
            let bytes = from_hex(text).map_err(|e| anyhow::anyhow!("\"{text}\": {e}"))?;
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        Ty::Option(item) => {
            if value.is_null() {
                out.push(0);
            } else {
                out.push(1);
                encode(item, value, out)?;
            }
        }
        Ty::Vec(item) => {
            let items = value
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("expected an array, got {value}"))?;
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for v in items {
                encode(item, v, out)?;
            }
        }
        Ty::Pair(a, b) => {
            let items = value
                .as_array()
                .filter(|items| items.len() == 2)
                .ok_or_else(|| anyhow::anyhow!("expected an array of two, got {value}"))?;
            encode(a, &items[0], out)?;
            encode(b, &items[1], out)?;
        }
    }
    Ok(())
}

/// Decodes exactly one value of type `ty` from `bytes`.
fn decode_all(ty: &Ty, bytes: &[u8]) -> anyhow::Result<Value> {
    let mut decoder = Decoder {
        input: bytes,
        budget: bytes.len().saturating_add(SPARE_VALUES),
    };
    let value = decoder.value(ty)?;
    anyhow::ensure!(
        decoder.input.is_empty(),
        "{} bytes after the result",
        decoder.input.len()
    );
    Ok(value)
}

/// A result being read, and how many more values it may hold.
struct Decoder<'a> {
    input: &'a [u8],
    budget: usize,
}

/// A JSON number when exact in a double, else a decimal string.
fn number(n: i128) -> Value {
    if n.unsigned_abs() <= (1u128 << 53) {
        json!(n as i64)
    } else {
        json!(n.to_string())
    }
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        anyhow::ensure!(self.input.len() >= n, "the result ends inside a value");
        let (head, tail) = self.input.split_at(n);
        self.input = tail;
        Ok(head)
    }

    fn length(&mut self) -> anyhow::Result<usize> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        anyhow::ensure!(len <= self.input.len(), "length {len} beyond the result");
        Ok(len)
    }

    fn value(&mut self, ty: &Ty) -> anyhow::Result<Value> {
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            anyhow::anyhow!(
                "the result holds more values than its length allows (one per byte and \
                 {SPARE_VALUES} more)"
            )
        })?;
        Ok(match ty {
            Ty::Int { bytes, signed, .. } => {
                let raw = self.take(*bytes)?;
                // Sign-extend (or zero-extend) to 16 bytes.
                let negative = *signed && raw[*bytes - 1] & 0x80 != 0;
                let mut wide = [if negative { 0xff } else { 0 }; 16];
                wide[..*bytes].copy_from_slice(raw);
                if *signed {
                    number(i128::from_le_bytes(wide))
                } else {
                    let n = u128::from_le_bytes(wide);
                    match i128::try_from(n) {
                        Ok(n) => number(n),
                        Err(_) => json!(n.to_string()),
                    }
                }
            }
            Ty::Bool => match self.take(1)?[0] {
                0 => json!(false),
                1 => json!(true),
                b => anyhow::bail!("bool tag {b}"),
            },
            Ty::Unit => Value::Null,
            Ty::String => {
                let len = self.length()?;
                let text = std::str::from_utf8(self.take(len)?)
                    .map_err(|_| anyhow::anyhow!("string is not UTF-8"))?;
                json!(text)
            }
            Ty::Id => json!(to_hex(self.take(32)?)),
            Ty::Bytes => {
                let len = self.length()?;
                json!(to_hex(self.take(len)?))
            }
            Ty::Option(item) => match self.take(1)?[0] {
                0 => Value::Null,
                1 => self.value(item)?,
                b => anyhow::bail!("option tag {b}"),
            },
            Ty::Vec(item) => {
                let len = self.length()?;
                let mut items = Vec::with_capacity(len.min(MAX_RESERVED_ITEMS));
                for _ in 0..len {
                    items.push(self.value(item)?);
                }
                Value::Array(items)
            }
            Ty::Pair(a, b) => json!([self.value(a)?, self.value(b)?]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token's ABI as `export!` writes it (see contracts/examples/token).
    const TOKEN: &str = r#"{"veil_abi":1,"init":[{"name":"supply","type":"u128"}],"commands":[{"name":"transfer","tag":0,"args":[{"name":"to","type":"AccountId"},{"name":"amount","type":"u128"}],"returns":"()"}],"queries":[{"name":"balance","tag":0,"args":[{"name":"who","type":"AccountId"}],"returns":"u128"},{"name":"total_supply","tag":1,"args":[],"returns":"u128"}]}"#;

    fn hex32(b: u8) -> String {
        to_hex([b; 32])
    }

    fn failure<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn calls_are_encoded_by_name_in_the_contract_codec() {
        let abi = Abi::parse(TOKEN).unwrap();
        assert_eq!(
            abi.encode_init(&json!({"supply": 1000})).unwrap(),
            1000u128.to_le_bytes()
        );
        let transfer = abi
            .encode_call(
                Kind::Command,
                "transfer",
                &json!({"to": hex32(7), "amount": "300"}),
            )
            .unwrap();
        assert_eq!(
            transfer,
            [&[0u8][..], &[7; 32], &300u128.to_le_bytes()].concat()
        );
        assert_eq!(
            abi.encode_call(Kind::Query, "total_supply", &Value::Null)
                .unwrap(),
            [1]
        );
        let result = abi
            .decode_result(Kind::Query, "balance", &700u128.to_le_bytes())
            .unwrap();
        assert_eq!(result, json!(700));
        let big = abi
            .decode_result(Kind::Query, "balance", &u128::MAX.to_le_bytes())
            .unwrap();
        assert_eq!(big, json!(u128::MAX.to_string()));
    }

    #[test]
    fn mistakes_are_named() {
        let abi = Abi::parse(TOKEN).unwrap();
        let err = |r: anyhow::Result<Vec<u8>>| r.unwrap_err().to_string();
        assert!(err(abi.encode_call(Kind::Command, "mint", &json!({}))).contains("transfer"));
        assert!(
            err(abi.encode_call(Kind::Command, "transfer", &json!({"to": hex32(1)})))
                .contains("missing argument `amount`")
        );
        assert!(
            err(abi.encode_call(
                Kind::Command,
                "transfer",
                &json!({"to": hex32(1), "amount": 1, "memo": "x"})
            ))
            .contains("unknown argument `memo`")
        );
        assert!(
            err(abi.encode_call(
                Kind::Command,
                "transfer",
                &json!({"to": "0x01", "amount": 1})
            ))
            .contains("not 32")
        );
        assert!(
            err(abi.encode_call(
                Kind::Command,
                "transfer",
                &json!({"to": hex32(1), "amount": -1})
            ))
            .contains("non-negative")
        );
        assert!(abi.decode_result(Kind::Query, "balance", &[1, 2]).is_err());
        assert!(Abi::parse("{").is_err());
    }

    #[test]
    fn composite_types_round_trip() {
        for (ty, value) in [
            ("Option<(AccountId, u128)>", json!([hex32(2), 70])),
            ("Option<u128>", Value::Null),
            ("Vec<u16>", json!([1, 2, 3])),
            ("Vec<u8>", json!("0xabcd")),
            ("(bool, String)", json!([true, "hi"])),
            ("i64", json!(-5)),
        ] {
            let parsed = Ty::parse(ty).unwrap();
            let mut bytes = Vec::new();
            encode(&parsed, &value, &mut bytes).unwrap();
            assert_eq!(decode_all(&parsed, &bytes).unwrap(), value, "{ty}");
        }
        for (ty, n, bytes) in [
            ("i8", -128, vec![0x80]),
            ("i16", -2, vec![0xfe, 0xff]),
            ("u16", 65_535, vec![0xff, 0xff]),
        ] {
            let parsed = Ty::parse(ty).unwrap();
            let mut out = Vec::new();
            encode(&parsed, &json!(n), &mut out).unwrap();
            assert_eq!(out, bytes, "{ty}");
            assert_eq!(decode_all(&parsed, &bytes).unwrap(), json!(n), "{ty}");
        }
        for (ty, n) in [("i8", 128), ("i8", -129), ("u16", 65_536), ("u8", -1)] {
            let mut out = Vec::new();
            assert!(
                encode(&Ty::parse(ty).unwrap(), &json!(n), &mut out).is_err(),
                "{ty} {n}"
            );
        }
        let u128_max = json!(u128::MAX.to_string());
        assert_eq!(
            decode_all(&Ty::parse("u128").unwrap(), &[0xff; 16]).unwrap(),
            u128_max
        );
        assert_eq!(
            decode_all(&Ty::parse("i128").unwrap(), &[0xff; 16]).unwrap(),
            json!(-1)
        );
        assert!(
            Ty::parse("f64")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }

    /// A contract's ABI with one command `m` taking `a: arg` and returning `returns`.
    fn abi_of(arg: &str, returns: &str) -> Abi {
        let text = json!({
            "veil_abi": 1,
            "init": [],
            "commands": [{"name": "m", "tag": 0, "args": [{"name": "a", "type": arg}], "returns": returns}],
            "queries": [],
        });
        Abi::parse(&text.to_string()).unwrap()
    }

    /// The attack: a malicious contract declares a result of `Vec<Vec<()>>` and returns 4 KiB
    /// in which each inner vector claims as many units as bytes remain: two million values
    /// (billions from a 64 KiB result), built before anything could refuse them.
    #[test]
    fn a_result_of_unit_items_cannot_outgrow_its_bytes() {
        let outer = 1_000u32;
        let mut bytes = outer.to_le_bytes().to_vec();
        for i in 0..outer {
            bytes.extend_from_slice(&((outer - i - 1) * 4).to_le_bytes());
        }
        let abi = abi_of("u8", "Vec<Vec<()>>");
        let err = failure(abi.decode_result(Kind::Command, "m", &bytes));
        assert!(err.contains("more values than its length allows"), "{err}");
        // Units within the budget still decode.
        let mut bytes = [1_000u32.to_le_bytes(), 1_000u32.to_le_bytes()].concat();
        bytes.extend_from_slice(&[0; 1_000]);
        let abi = abi_of("u8", "(Vec<()>, Vec<u8>)");
        let value = abi.decode_result(Kind::Command, "m", &bytes).unwrap();
        assert_eq!(value[0].as_array().map(Vec::len), Some(1_000));
    }

    /// The attack: an ABI type nested 100,000 deep overflowed the client's stack (an abort,
    /// not an error) when it decoded a result or encoded an argument of that type.
    #[test]
    fn a_type_nested_without_end_is_refused_not_followed() {
        let nest = |n: usize| format!("{}u8{}", "Option<".repeat(n), ">".repeat(n));
        let deep = nest(100_000);
        let abi = abi_of(&deep, &deep);
        let result = failure(abi.decode_result(Kind::Command, "m", &[1; 100_001]));
        assert!(result.contains("over the limit of 1024"), "{result}");
        let argument = failure(abi.encode_call(Kind::Command, "m", &json!({"a": 1})));
        assert!(argument.contains("over the limit of 1024"), "{argument}");
        // Short but too deep: 16 wrappers and the innermost type are 17 levels.
        let abi = abi_of(&nest(16), &nest(16));
        let result = failure(abi.decode_result(Kind::Command, "m", &[1; 17]));
        assert!(result.contains("deeper than 16 levels"), "{result}");
        // At the limit a type still works.
        let depth = MAX_TYPE_DEPTH - 1;
        let mut bytes = vec![1; depth];
        bytes.push(7);
        let abi = abi_of(&nest(depth), &nest(depth));
        assert_eq!(
            abi.decode_result(Kind::Command, "m", &bytes).unwrap(),
            json!(7)
        );
        assert_eq!(
            abi.encode_call(Kind::Command, "m", &json!({"a": 7}))
                .unwrap(),
            [&[0][..], &bytes].concat()
        );
    }

    /// The attack: a result type `Vec<(Option<JUNK>, ())>` with 500 KB of junk never read
    /// (every option is empty) made the client scan the junk again for every item, tens of
    /// seconds for a 64 KiB result, and then accept it. Types are now parsed once, whole,
    /// within a length limit.
    #[test]
    fn a_long_type_is_refused_before_any_item_is_read() {
        let abi = abi_of("u8", &format!("Vec<(Option<{}>, ())>", "x".repeat(500_000)));
        let mut bytes = 60_000u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 60_000]);
        let err = failure(abi.decode_result(Kind::Command, "m", &bytes));
        assert!(err.contains("over the limit of 1024"), "{err}");
    }
}
