//! The RPC's hex: the hand-written encoder and decoder agree with the `hex` crate on every
//! input, errors included.

use proptest::prelude::*;
use veil_primitives::{from_hex, to_hex};

proptest! {
    #[test]
    fn encoding_matches_the_hex_crate_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = to_hex(&bytes);
        prop_assert_eq!(&text, &format!("0x{}", hex::encode(&bytes)));
        prop_assert_eq!(from_hex(&text), Ok(bytes.clone()));
        prop_assert_eq!(from_hex(&text[2..].to_uppercase()), Ok(bytes));
    }

    #[test]
    fn any_text_decodes_as_the_hex_crate_decodes_it(text in "(0x)?[0-9a-fA-Fg-z ]{0,40}", raw in ".{0,12}") {
        for input in [text.as_str(), raw.as_str()] {
            let expected = hex::decode(input.strip_prefix("0x").unwrap_or(input));
            prop_assert_eq!(from_hex(input), expected);
        }
    }
}
