//! The primitives' integration tests, one binary: property tests of every codec ([codec]).

mod codec;
